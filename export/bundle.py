"""What the bundled model's pieces share: the chat template, special ids, tokenizer building, checkpoints."""
import os
import random

import torch

import corpus
from decoding import SpecialIds
from model import MeDlmConfig, MeDlmModel
from tokenizer import SPECIAL_TOKENS, Tokenizer, train as train_tokenizer

# The chat template (ChatML, no BOS: the ME-DLM prompt format): the one definition. The package manifest
# carries it (export_onnx) and the C# runtime applies it from there.
CHAT_TEMPLATE = {
    "system": "<|im_start|>system\n{content}<|im_end|>\n",
    "user": "<|im_start|>user\n{content}<|im_end|>\n",
    "assistant": "<|im_start|>assistant\n{content}<|im_end|>\n",
    "generation_prompt": "<|im_start|>assistant\n",
}


def chat_prompt(prompt):
    """One user turn and the generation prompt (no system turn), as the runtime's ApplyPrompt builds it."""
    return CHAT_TEMPLATE["user"].format(content=prompt) + CHAT_TEMPLATE["generation_prompt"]
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
        texts.append(chat_prompt(it["prompt"]))
        texts.extend(it["answers"])
    for it in rng.sample(math, 20000):
        texts.append(chat_prompt(it["prompt"]))
        texts.append(rng.choice(it["answers"]))
    return train_tokenizer(texts, num_merges=num_merges, min_frequency=20)


def encode_prompt(tok, prompt):
    return tok.encode(chat_prompt(prompt))


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
