import os
import sys

EXPORT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, EXPORT)
REPO = os.path.dirname(EXPORT)
