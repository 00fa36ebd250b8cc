"""What the bundled model's pieces share: the chat template, special ids, tokenizer building, checkpoints."""
import os
import random

import torch

import corpus
from decoding import SpecialIds
from model import MeDlmConfig, MeDlmModel
from tokenizer import SPECIAL_TOKENS, Tokenizer, train as train_tokenizer

# ChatML without a system turn, no BOS (the ME-DLM prompt format).
CHAT_TEMPLATE = "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"
GEN_LENGTH = 48


def special_ids(tok: Tokenizer) -> SpecialIds:
    return SpecialIds(mask=tok.token_id(SPECIAL_TOKENS["mask"]), pad=tok.token_id(SPECIAL_TOKENS["pad"]),
                      delete=tok.token_id(SPECIAL_TOKENS["del"]), end=tok.token_id(SPECIAL_TOKENS["end"]))


def build_tokenizer(seed=0, num_merges=700):
    """Byte-level BPE trained on a sample of the training split (prompts in the chat template + answers)."""
    train_items, _ = corpus.split()
    rng = random.Random(seed)
    code = [it for it in train_items if it["kind"] == "code"]
    math = [it for it in train_items if it["kind"] == "math"]
    texts = []
    for it in code:
        texts.append(CHAT_TEMPLATE.format(prompt=it["prompt"]))
        texts.extend(it["answers"])
    for it in rng.sample(math, 20000):
        texts.append(CHAT_TEMPLATE.format(prompt=it["prompt"]))
        texts.append(rng.choice(it["answers"]))
    return train_tokenizer(texts, num_merges=num_merges, min_frequency=20)


def encode_prompt(tok, prompt):
    return tok.encode(CHAT_TEMPLATE.format(prompt=prompt))


def save_checkpoint(path, model, extra):
    tmp = path + ".tmp"
    torch.save({"config": model.config.to_dict(), "state_dict": model.state_dict(), **extra}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path):
    ck = torch.load(path, map_location="cpu")
    model = MeDlmModel(MeDlmConfig.from_dict(ck["config"]))
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, ck
