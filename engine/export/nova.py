"""The nova family: dp-web4/HRM's HierarchicalReasoningModule.

Module and parameter names are exactly those of dp-web4's
training/train_arc_full_nova.py, so a checkpoint saved there
(`model_state_dict`) loads here with strict=True.
"""

import math

import torch
from torch import nn

# The published configuration (dp-web4 MODEL_CONFIG) and a CI-sized one.
SIZES = {
    "full": {
        "seq_len": 900,
        "vocab_size": 12,
        "hidden_size": 256,
        "num_heads": 8,
        "num_h_layers": 4,
        "num_l_layers": 3,
        "dropout": 0.1,
        "max_cycles": 8,
    },
    "tiny": {
        "seq_len": 900,
        "vocab_size": 12,
        "hidden_size": 32,
        "num_heads": 2,
        "num_h_layers": 1,
        "num_l_layers": 1,
        "dropout": 0.1,
        "max_cycles": 8,
    },
}

# The reference forward stops when cycle > 0 and the halt probability is above 0.9.
HALT_THRESHOLD = 0.9
MIN_CYCLES = 2

MODEL_KEYS = tuple(SIZES["full"].keys())


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=5000):
        super().__init__()
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(
            torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model)
        )
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)

    def forward(self, x):
        return x + self.pe[: x.size(1)]


def _encoder_layers(config, count):
    return nn.ModuleList(
        [
            nn.TransformerEncoderLayer(
                d_model=config["hidden_size"],
                nhead=config["num_heads"],
                dim_feedforward=config["hidden_size"] * 4,
                dropout=config["dropout"],
                batch_first=True,
            )
            for _ in range(count)
        ]
    )


class HierarchicalReasoningModule(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = dict(config)
        hidden = config["hidden_size"]
        self.token_embedding = nn.Embedding(config["vocab_size"], hidden)
        self.pos_encoding = PositionalEncoding(hidden)
        self.h_layers = _encoder_layers(config, config["num_h_layers"])
        self.l_layers = _encoder_layers(config, config["num_l_layers"])
        self.h_to_l = nn.Linear(hidden, hidden)
        self.l_to_h = nn.Linear(hidden, hidden)
        self.halt_predictor = nn.Linear(hidden * 2, 1)
        self.output = nn.Linear(hidden, config["vocab_size"])
        self.h_norm = nn.LayerNorm(hidden)
        self.l_norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(config["dropout"])

    def embed(self, tokens):
        x = self.dropout(self.pos_encoding(self.token_embedding(tokens)))
        return x, x.clone()

    def cycle(self, h, l):
        """One reasoning cycle: the body of the reference loop."""
        for layer in self.h_layers:
            h = layer(h)
        h = self.h_norm(h)
        l = l + self.h_to_l(h)
        for layer in self.l_layers:
            l = layer(l)
        l = self.l_norm(l)
        h = h + self.l_to_h(l)
        combined = torch.cat([h.mean(dim=1), l.mean(dim=1)], dim=-1)
        halt = torch.sigmoid(self.halt_predictor(combined))
        return h, l, self.output(l), halt

    def forward(self, tokens, max_cycles=None):
        """The reference forward, batch-mean halting and all."""
        max_cycles = max_cycles or self.config["max_cycles"]
        h, l = self.embed(tokens)
        halt_probs = []
        logits = None
        for cycle in range(max_cycles):
            h, l, logits, halt = self.cycle(h, l)
            halt_probs.append(halt)
            if cycle > 0 and halt.mean() > HALT_THRESHOLD:
                break
        return logits, halt_probs

    def trace(self, tokens, cycles):
        """Every cycle's (logits, halt), without stopping early."""
        h, l = self.embed(tokens)
        out = []
        for _ in range(cycles):
            h, l, logits, halt = self.cycle(h, l)
            out.append((logits, halt))
        return out


class InitGraph(nn.Module):
    """tokens -> h, l: what init.onnx computes.

    The positional table is cut to seq_len here rather than sliced in the graph,
    so the graph carries 900 rows instead of 5000 and its output shapes are static.
    """

    def __init__(self, model):
        super().__init__()
        self.token_embedding = model.token_embedding
        self.register_buffer("pe", model.pos_encoding.pe[: model.config["seq_len"]].clone())

    def forward(self, tokens):
        x = self.token_embedding(tokens) + self.pe
        return x, x.clone()


class StepGraph(nn.Module):
    """h, l -> h_next, l_next, logits, halt: what step.onnx computes."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, h, l):
        return self.model.cycle(h, l)


def random_model(size, seed):
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}: use one of {', '.join(sorted(SIZES))}")
    torch.manual_seed(seed)
    model = HierarchicalReasoningModule(SIZES[size])
    model.eval()
    return model


class CheckpointError(Exception):
    pass


def model_config_from_checkpoint(ckpt, path):
    """The model's config: the checkpoint's own where it has one (dp-web4 saves
    MODEL_CONFIG merged with training settings), else the published one."""
    saved = ckpt.get("config") if isinstance(ckpt, dict) else None
    config = dict(SIZES["full"])
    if isinstance(saved, dict):
        for key in MODEL_KEYS:
            if key in saved:
                config[key] = saved[key]
    if config["hidden_size"] % config["num_heads"]:
        raise CheckpointError(
            f"{path}: config hidden_size {config['hidden_size']} is not divisible by "
            f"num_heads {config['num_heads']}"
        )
    return config


def load_checkpoint(path):
    """Load a dp-web4 checkpoint strictly; every disagreement names the key."""
    try:
        ckpt = torch.load(path, map_location="cpu")
    except Exception as e:  # torch raises many kinds; all mean "not a checkpoint"
        raise CheckpointError(f"{path}: cannot be read as a PyTorch checkpoint: {e}") from e
    if not isinstance(ckpt, dict) or "model_state_dict" not in ckpt:
        keys = sorted(ckpt.keys())[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(
            f"{path}: no 'model_state_dict' (found {keys}); save the checkpoint as "
            "dp-web4's training does: torch.save({'model_state_dict': model.state_dict(), ...})"
        )
    config = model_config_from_checkpoint(ckpt, path)
    model = HierarchicalReasoningModule(config)
    state = ckpt["model_state_dict"]
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing key(s): " + ", ".join(missing))
        if extra:
            parts.append("unexpected key(s): " + ", ".join(extra))
        raise CheckpointError(
            f"{path}: model_state_dict does not match the nova model "
            f"(hidden {config['hidden_size']}, {config['num_h_layers']} H + "
            f"{config['num_l_layers']} L layers): " + "; ".join(parts)
        )
    for key, want in expected.items():
        got = state[key]
        if tuple(got.shape) != tuple(want.shape):
            raise CheckpointError(
                f"{path}: {key} has shape {list(got.shape)}, the model expects {list(want.shape)}"
            )
    model.load_state_dict(state, strict=True)
    model.eval()
    step = ckpt.get("global_step", 0)
    return model, int(step) if isinstance(step, int) else 0
