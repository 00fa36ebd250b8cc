"""ME-DLM architecture: one bidirectional transformer with two heads (LLaDA layout), also Dream (Qwen2).

Parameter names follow the Hugging Face LLaDA / ME-DLM checkpoints
(model.embed_tokens, model.layers.N.self_attn.q_proj, ..., model.norm, lm_head, next_token_head),
so the same module loads the real ME-DLM-Stage3 / LLaDA-8B weights through a state dict. Dream checkpoints
use the same names plus q/k/v biases (attention_bias), grouped-query attention and no next_token_head.
"""
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class MeDlmConfig:
    vocab_size: int = 512
    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 4
    num_attention_heads: int = 6
    num_key_value_heads: int = 6
    head_dim: int = 32
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_position_embeddings: int = 128
    attention_bias: bool = False  # q/k/v projection biases (Dream / Qwen2); o_proj never has one

    @classmethod
    def from_dict(cls, d):
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        if "head_dim" not in d and "hidden_size" in d and "num_attention_heads" in d:
            known["head_dim"] = d["hidden_size"] // d["num_attention_heads"]
        if "num_key_value_heads" not in d and "num_attention_heads" in d:
            known["num_key_value_heads"] = d["num_attention_heads"]
        return cls(**known)

    def to_dict(self):
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: MeDlmConfig):
        super().__init__()
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = cfg.head_dim
        bias = cfg.attention_bias
        self.q_proj = nn.Linear(cfg.hidden_size, self.n_heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(cfg.hidden_size, self.n_kv * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(cfg.hidden_size, self.n_kv * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, cfg.hidden_size, bias=False)

    def forward(self, x, cos, sin, key_bias):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        if q.dtype == torch.float32:
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
        else:  # RoPE in float32 as LLaDA does; cos/sin stay float32 for this reason
            q = (q.float() * cos + rotate_half(q.float()) * sin).to(v.dtype)
            k = (k.float() * cos + rotate_half(k.float()) * sin).to(v.dtype)
        if self.n_kv != self.n_heads:
            # expand + reshape (not repeat_interleave, which exports as a Loop)
            rep = self.n_heads // self.n_kv
            k = k[:, :, None].expand(b, self.n_kv, rep, t, self.head_dim).reshape(b, self.n_heads, t, self.head_dim)
            v = v[:, :, None].expand(b, self.n_kv, rep, t, self.head_dim).reshape(b, self.n_heads, t, self.head_dim)
        # Bidirectional: every query sees every real key; padded keys get a large negative bias.
        scores = torch.matmul(q, k.transpose(-1, -2)) * (self.head_dim ** -0.5) + key_bias
        probs = torch.softmax(scores.float(), dim=-1).to(v.dtype)
        y = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim)
        return self.o_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: MeDlmConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: MeDlmConfig):
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, cos, sin, key_bias):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, key_bias)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    def __init__(self, cfg: MeDlmConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([DecoderLayer(cfg) for _ in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, cfg.head_dim, 2, dtype=torch.float32) / cfg.head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, input_ids, attention_mask):
        b, t = input_ids.shape
        x = self.embed_tokens(input_ids)
        # Positions 0..t-1 in every row: rows are right-padded, so real tokens keep their positions.
        pos = torch.arange(t, dtype=torch.float32, device=input_ids.device)
        freqs = pos[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = emb.cos()[None, None]
        sin = emb.sin()[None, None]
        key_bias = (1.0 - attention_mask.to(torch.float32))[:, None, None, :] * -1e9
        key_bias = key_bias.to(x.dtype)
        for layer in self.layers:
            x = layer(x, cos, sin, key_bias)
        return self.norm(x)


class MeDlmModel(nn.Module):
    """Backbone + current-token head (lm_head) + next-token head (next_token_head)."""

    def __init__(self, cfg: MeDlmConfig):
        super().__init__()
        self.config = cfg
        self.model = Backbone(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.next_token_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    def hidden(self, input_ids, attention_mask=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        return self.model(input_ids, attention_mask)

    def forward(self, input_ids, attention_mask=None):
        """Returns (logits, next_token_logits, hidden_states), each [batch, seq, *]."""
        h = self.hidden(input_ids, attention_mask)
        return self.lm_head(h), self.next_token_head(h), h

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())
