"""The act-v1 family: sapientinc/HRM's HierarchicalReasoningModel_ACTV1, for inference in fp32.

Our own module, written from the description in their models/hrm/hrm_act_v1.py and
models/layers.py (Apache-2.0), with their module, parameter and buffer names, so that a
checkpoint's state_dict (prefixes stripped, see load_checkpoint) loads here strictly.
Only the evaluation forward is reproduced: no ACT exploration, no target Q, no sparse
embedding optimiser. At evaluation their wrapper runs halt_max_steps steps of the inner
model from H_init/L_init, carrying z_H and z_L; `trace` does exactly that.
"""

import math
import os

import torch
import torch.nn.functional as F
import yaml
from torch import nn

# The published ARC configuration (config/arch/hrm_v1.yaml with the ARC dataset's
# seq_len 900 and vocab 12) and a CI-sized one. num_puzzle_identifiers is the table's
# row count: a real checkpoint's comes from its table, a random model's from the
# identifiers written with it.
SIZES = {
    "full": {
        "seq_len": 900, "vocab_size": 12, "hidden_size": 512, "num_heads": 8, "expansion": 4,
        "H_layers": 4, "L_layers": 4, "H_cycles": 2, "L_cycles": 2, "halt_max_steps": 16,
        "puzzle_emb_ndim": 512, "num_puzzle_identifiers": 8, "pos_encodings": "rope",
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    },
    "tiny": {
        "seq_len": 900, "vocab_size": 12, "hidden_size": 32, "num_heads": 2, "expansion": 4,
        "H_layers": 1, "L_layers": 1, "H_cycles": 2, "L_cycles": 2, "halt_max_steps": 16,
        "puzzle_emb_ndim": 32, "num_puzzle_identifiers": 8, "pos_encodings": "rope",
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    },
}
CONFIG_KEYS = tuple(SIZES["full"].keys())
INT_KEYS = ("seq_len", "vocab_size", "hidden_size", "num_heads", "H_layers", "L_layers", "H_cycles",
            "L_cycles", "halt_max_steps", "puzzle_emb_ndim", "num_puzzle_identifiers")
FLOAT_KEYS = ("expansion", "rms_norm_eps", "rope_theta")

# hrmd's q_compare rule: stop after the first step where q_halt > q_continue, from step 1
# (their training halts on the same comparison; their evaluation always runs every step).
MIN_CYCLES = 1
# Their learned position embedding is added to the input and scaled by 1/sqrt(2).
LEARNED_POS_SCALE = 0.707106781
# The prefixes a checkpoint's keys carry: torch.compile's wrapper, then ACTLossHead's `model`.
STRIP_PREFIXES = ("_orig_mod.", "model.")


def intermediate_size(hidden, expansion):
    """SwiGLU's inner width: 2/3 of expansion*hidden, rounded up to a multiple of 256
    (1536 for hidden 512, expansion 4)."""
    inter = round(expansion * hidden * 2 / 3)
    return -(inter // -256) * 256


def puzzle_emb_len(config):
    """Positions the puzzle row takes in front of the grid: ceil(ndim / hidden)."""
    return -(config["puzzle_emb_ndim"] // -config["hidden_size"])


def trunc_normal(shape, std):
    """A normal cut at two standard deviations, for random models only (a checkpoint
    brings its own values; the exact initial distribution does not matter here)."""
    t = torch.empty(shape)
    if std == 0:
        return t.zero_()
    return nn.init.trunc_normal_(t, std=std, a=-2 * std, b=2 * std)


def rms_norm(x, eps, hidden, ones, zeros):
    """x / sqrt(mean(x^2) + eps), theirs, computed as a layer norm of [x, -x] (whose mean is 0 and
    whose variance is mean(x^2)), first half. The export is then one LayerNormalization node,
    which TensorRT's normalization layer computes in fp32 in an fp16 or bf16 engine too (its
    compute precision defaults to fp32, NvInfer.h); the mean of squares of an RMS norm written
    out as Pow, ReduceMean, Sqrt overflows fp16 beyond |x| = 256, and keeping those nodes in fp32
    (trt_layer_norm_fp32_fallback, or Cast nodes) is only a hint TensorRT may ignore in a
    network built with fp16 on. Equal to theirs to fp32 rounding. hidden is x's last axis, as a
    number: the export needs the normalized shape and the slice to be constants. ones and zeros
    (2 * hidden each) are an explicit scale and bias: without them torch 1.13 exports empty
    inputs, which ONNX's checker refuses (the scale) and onnxruntime 1.30 crashes on (the bias)."""
    return F.layer_norm(torch.cat((x, -x), dim=-1), (2 * hidden,), weight=ones, bias=zeros, eps=eps)[..., :hidden]


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Linear(nn.Module):
    """Their CastedLinear: `weight` [out, in], optional `bias`, LeCun truncated normal init."""

    def __init__(self, n_in, n_out, bias=False):
        super().__init__()
        self.weight = nn.Parameter(trunc_normal((n_out, n_in), 1.0 / math.sqrt(n_in)))
        self.bias = nn.Parameter(torch.zeros(n_out)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class Embedding(nn.Module):
    """Their CastedEmbedding: the table is `embedding_weight`."""

    def __init__(self, count, dim, std):
        super().__init__()
        self.embedding_weight = nn.Parameter(trunc_normal((count, dim), std))

    def forward(self, tokens):
        return F.embedding(tokens, self.embedding_weight)


class PuzzleEmbedding(nn.Module):
    """Their CastedSparseEmbedding at evaluation: a persistent buffer `weights` [N, ndim]
    (zero at their init), read by row. Only the table lives here: the graphs take the row
    as an input."""

    def __init__(self, count, dim):
        super().__init__()
        self.register_buffer("weights", torch.zeros(count, dim), persistent=True)


class Rotary(nn.Module):
    """NeoX-style RoPE tables over every position, puzzle positions included
    (non-persistent, as theirs: a checkpoint does not carry them)."""

    def __init__(self, dim, positions, base):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
        freqs = torch.outer(torch.arange(positions, dtype=torch.float32), inv_freq)
        angles = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos_cached", angles.cos(), persistent=False)
        self.register_buffer("sin_cached", angles.sin(), persistent=False)


class Attention(nn.Module):
    """Bidirectional multi-head attention: fused qkv (heads Q, then K, then V), no bias,
    RoPE on Q and K, softmax scale 1/sqrt(head_dim) (FlashAttention's default)."""

    def __init__(self, hidden, heads):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.qkv_proj = Linear(hidden, 3 * hidden)
        self.o_proj = Linear(hidden, hidden)

    def forward(self, x, cos, sin):
        """cos, sin: [S, 1, head_dim], broadcast over the heads."""
        b, s, _ = x.shape
        qkv = self.qkv_proj(x).view(b, s, 3 * self.heads, self.head_dim)
        q, k, v = qkv.split(self.heads, dim=2)
        if cos is not None:
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, heads, S, head_dim]
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim))
        out = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.o_proj(out.transpose(1, 2).reshape(b, s, self.heads * self.head_dim))


class SwiGLU(nn.Module):
    def __init__(self, hidden, expansion):
        super().__init__()
        inter = intermediate_size(hidden, expansion)
        self.gate_up_proj = Linear(hidden, 2 * inter)  # first half gate, second half up
        self.down_proj = Linear(inter, hidden)

    def forward(self, x):
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class Block(nn.Module):
    """Post-norm: h = rms(h + attn(h)); h = rms(h + mlp(h)). RMS norm without weight."""

    def __init__(self, config):
        super().__init__()
        self.self_attn = Attention(config["hidden_size"], config["num_heads"])
        self.mlp = SwiGLU(config["hidden_size"], config["expansion"])
        self.eps = config["rms_norm_eps"]
        self.hidden = config["hidden_size"]
        # Not a parameter: a checkpoint does not carry it (their norm has no weight).
        self.register_buffer("norm_ones", torch.ones(2 * self.hidden), persistent=False)
        self.register_buffer("norm_zeros", torch.zeros(2 * self.hidden), persistent=False)

    def forward(self, x, cos, sin):
        x = rms_norm(x + self.self_attn(x, cos, sin), self.eps, self.hidden, self.norm_ones, self.norm_zeros)
        return rms_norm(x + self.mlp(x), self.eps, self.hidden, self.norm_ones, self.norm_zeros)


class Level(nn.Module):
    """One reasoning module (H or L): its layers run on z + the injected input."""

    def __init__(self, config, count):
        super().__init__()
        self.layers = nn.ModuleList([Block(config) for _ in range(count)])

    def forward(self, z, injection, cos, sin):
        z = z + injection
        for layer in self.layers:
            z = layer(z, cos, sin)
        return z


class Inner(nn.Module):
    """Their HierarchicalReasoningModel_ACTV1_Inner: the `inner.` keys of a checkpoint."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        hidden = config["hidden_size"]
        self.embed_scale = math.sqrt(hidden)
        self.puzzle_emb_len = puzzle_emb_len(config)
        self.embed_tokens = Embedding(config["vocab_size"], hidden, 1.0 / self.embed_scale)
        self.lm_head = Linear(hidden, config["vocab_size"])
        self.q_head = Linear(hidden, 2, bias=True)
        self.puzzle_emb = PuzzleEmbedding(config["num_puzzle_identifiers"], config["puzzle_emb_ndim"])
        positions = config["seq_len"] + self.puzzle_emb_len
        if config["pos_encodings"] == "learned":
            # Added to the input (theirs scaled by 1/sqrt(2) to keep its variance); no RoPE.
            self.embed_pos = Embedding(positions, hidden, 1.0 / self.embed_scale)
        else:
            self.rotary_emb = Rotary(hidden // config["num_heads"], positions, config["rope_theta"])
        self.H_level = Level(config, config["H_layers"])
        self.L_level = Level(config, config["L_layers"])
        self.register_buffer("H_init", trunc_normal((hidden,), 1.0), persistent=True)
        self.register_buffer("L_init", trunc_normal((hidden,), 1.0), persistent=True)
        # Their bootstrapping init: q starts at (-5, -5) whatever the state.
        with torch.no_grad():
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(-5.0)

    def input_embeddings(self, tokens, puzzle_row):
        """[B, P + seq, hidden]: the puzzle row (zero-padded to P*hidden, cut into P
        positions) in front of the token embeddings, all times sqrt(hidden)."""
        hidden = self.config["hidden_size"]
        pad = self.puzzle_emb_len * hidden - self.config["puzzle_emb_ndim"]
        if pad > 0:
            puzzle_row = F.pad(puzzle_row, (0, pad))
        puzzle = puzzle_row.reshape(-1, self.puzzle_emb_len, hidden)
        embedding = torch.cat((puzzle, self.embed_tokens(tokens)), dim=-2)
        if self.config["pos_encodings"] == "learned":
            embedding = LEARNED_POS_SCALE * (embedding + self.embed_pos.embedding_weight)
        return self.embed_scale * embedding

    def initial_state(self, x):
        """z_H, z_L at the first step: H_init and L_init at every position."""
        return self.H_init.expand(x.shape), self.L_init.expand(x.shape)

    def rope_tables(self):
        """cos, sin as the attention takes them: [positions, 1, head_dim]; None with
        learned positions."""
        if self.config["pos_encodings"] == "learned":
            return None
        return self.rotary_emb.cos_cached.unsqueeze(-2), self.rotary_emb.sin_cached.unsqueeze(-2)

    def step(self, x, z_h, z_l, rope=None):
        """One ACT step: H_cycles x (L_cycles L updates, then one H update). Theirs runs all
        but the last L and H update under no_grad, which changes no value."""
        cos, sin = rope or self.rope_tables() or (None, None)
        for _ in range(self.config["H_cycles"]):
            for _ in range(self.config["L_cycles"]):
                z_l = self.L_level(z_l, z_h + x, cos, sin)
            z_h = self.H_level(z_h, z_l, cos, sin)
        logits = self.lm_head(z_h)[:, self.puzzle_emb_len:]
        q = self.q_head(z_h[:, 0])  # [B, 2]: q_halt, q_continue
        return z_h, z_l, logits, q


class ACTV1(nn.Module):
    """Their HierarchicalReasoningModel_ACTV1 at evaluation (`inner.` keys)."""

    def __init__(self, config):
        super().__init__()
        self.config = dict(config)
        self.inner = Inner(self.config)

    def puzzle_rows(self, identifiers):
        return self.inner.puzzle_emb.weights[identifiers]

    def trace(self, tokens, identifiers, steps=None):
        """Every step's (logits [B, seq, vocab], q [B, 2]), from the initial state."""
        x = self.inner.input_embeddings(tokens, self.puzzle_rows(identifiers))
        z_h, z_l = self.inner.initial_state(x)
        out = []
        for _ in range(steps or self.config["halt_max_steps"]):
            z_h, z_l, logits, q = self.inner.step(x, z_h, z_l)
            out.append((logits, q))
        return out


class InitGraph(nn.Module):
    """tokens, puzzle_emb -> x, z_h, z_l: what init.onnx computes. The table stays out:
    a real one has a row per augmented puzzle and can pass 2 GiB, protobuf's limit."""

    def __init__(self, model):
        super().__init__()
        self.inner = model.inner

    def forward(self, tokens, puzzle_emb):
        x = self.inner.input_embeddings(tokens, puzzle_emb)
        z_h, z_l = self.inner.initial_state(x)
        return x, z_h, z_l


class StepGraph(nn.Module):
    """x, z_h, z_l -> z_h_next, z_l_next, logits, q: what step.onnx computes."""

    def __init__(self, model):
        super().__init__()
        self.inner = model.inner
        # The exporter writes a non-persistent buffer as a constant at every use (24 copies
        # of each table in the tiny model); persistent buffers here are one initializer each.
        tables = model.inner.rope_tables()
        self.rope = tables is not None
        if self.rope:
            self.register_buffer("rope_cos", tables[0].clone(), persistent=True)
            self.register_buffer("rope_sin", tables[1].clone(), persistent=True)

    def forward(self, x, z_h, z_l):
        rope = (self.rope_cos, self.rope_sin) if self.rope else (None, None)
        return self.inner.step(x, z_h, z_l, rope)


def check_config(config):
    missing = [k for k in CONFIG_KEYS if k not in config]
    if missing:
        raise CheckpointError("act-v1 config lacks " + ", ".join(missing))
    if config["pos_encodings"] not in ("rope", "learned"):
        raise CheckpointError(f"pos_encodings {config['pos_encodings']!r}: act-v1 has rope or learned")
    if config["hidden_size"] % config["num_heads"]:
        raise CheckpointError(f"hidden_size {config['hidden_size']} is not divisible by num_heads "
                              f"{config['num_heads']}")
    if config["puzzle_emb_ndim"] <= 0:
        raise CheckpointError("puzzle_emb_ndim is 0: the act-v1 bundle needs a puzzle embedding")


def random_model(size, seed, num_puzzle_identifiers=None, overrides=None):
    """A seeded random model (overrides: config keys over the size's, e.g. a task's seq_len
    and vocab_size). Two things differ from their init, on purpose: the q head's weight is
    drawn (theirs is zero, so q would be (-5, -5) for every input and never halt) and so is
    the puzzle table (theirs is zero, so a wrong row could not be seen)."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}: use one of {', '.join(sorted(SIZES))}")
    config = dict(SIZES[size])
    config.update(overrides or {})
    if num_puzzle_identifiers:
        config["num_puzzle_identifiers"] = num_puzzle_identifiers
    check_config(config)
    torch.manual_seed(seed)
    model = ACTV1(config)
    hidden = config["hidden_size"]
    with torch.no_grad():
        model.inner.q_head.weight.copy_(trunc_normal((2, hidden), 1.0 / math.sqrt(hidden)))
        model.inner.puzzle_emb.weights.copy_(
            trunc_normal(tuple(model.inner.puzzle_emb.weights.shape), 1.0 / math.sqrt(hidden)))
    return model.eval()


class CheckpointError(Exception):
    pass


def arch_from_all_config(path):
    """The `arch:` section of pretrain.py's all_config.yaml, in our config's keys."""
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise CheckpointError(f"{path}: cannot be read: {e}") from e
    arch = doc.get("arch") if isinstance(doc, dict) else None
    if not isinstance(arch, dict):
        raise CheckpointError(f"{path}: no arch: section")
    if "hrm_act_v1" not in str(arch.get("name", "")):
        raise CheckpointError(f"{path}: arch.name is {arch.get('name')!r}, not hrm.hrm_act_v1@...")
    out = {k: arch[k] for k in CONFIG_KEYS if k in arch}
    # hydra's "${.hidden_size}" where the dump kept the interpolation.
    if str(out.get("puzzle_emb_ndim", "")).startswith("${"):
        out["puzzle_emb_ndim"] = arch["hidden_size"]
    return out


# Not --arch keys: the table's rows are the checkpoint's; seq_len and vocab_size are the
# task's (--task, or the dataset's dataset.json), which also decides the encoding.
NOT_ARCH = ("num_puzzle_identifiers", "seq_len", "vocab_size")


def parse_overrides(pairs):
    """KEY=VALUE flags over the config, typed by key."""
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if key in ("seq_len", "vocab_size"):
            raise CheckpointError(f"--arch {pair!r}: seq_len and vocab_size are the task's: give --task "
                                  "(arc, sudoku, maze) or the dataset's folder with --dataset")
        if not sep or key not in CONFIG_KEYS or key in NOT_ARCH:
            raise CheckpointError(f"--arch {pair!r}: use KEY=VALUE with KEY one of "
                                  + ", ".join(k for k in CONFIG_KEYS if k not in NOT_ARCH))
        out[key] = int(value) if key in INT_KEYS else float(value) if key in FLOAT_KEYS else value
    return out


def strip_prefixes(state):
    """Keys as our module names them: `_orig_mod.model.inner.x` -> `inner.x`."""
    out = {}
    for key, value in state.items():
        for prefix in STRIP_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
        out[key] = value
    return out


def check_state(path, state, expected):
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        parts = (["missing key(s): " + ", ".join(missing)] if missing else []) + \
                (["unexpected key(s): " + ", ".join(extra)] if extra else [])
        raise CheckpointError(f"{path}: the state_dict does not match the act-v1 model: " + "; ".join(parts))
    for key, want in expected.items():
        if tuple(state[key].shape) != tuple(want.shape):
            raise CheckpointError(f"{path}: {key} has shape {list(state[key].shape)}, "
                                  f"the model expects {list(want.shape)}")


def load_checkpoint(path, config_path=None, overrides=None, check=None):
    """A sapient step_N file (a plain state_dict of the compiled ACTLossHead) with
    all_config.yaml beside it, loaded strictly into fp32; returns (model, step).
    check(path, state, config), when given, may refuse the state before the strict load
    (act_checkpoint's shapes against the task)."""
    config_path = config_path or os.path.join(os.path.dirname(os.path.abspath(path)), "all_config.yaml")
    # seq_len and vocab_size come from the dataset, not all_config.yaml: ARC's unless overridden.
    config = dict(SIZES["full"])
    if os.path.exists(config_path):
        config.update(arch_from_all_config(config_path))
    elif not overrides:
        raise CheckpointError(f"{path}: no all_config.yaml beside it ({config_path}); give --config, "
                              "or the architecture with --arch KEY=VALUE flags")
    config.update(overrides or {})
    try:
        state = torch.load(path, map_location="cpu")
    except Exception as e:  # torch raises many kinds; all mean "not a checkpoint"
        raise CheckpointError(f"{path}: cannot be read as a PyTorch checkpoint: {e}") from e
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError(f"{path}: not a plain state_dict (torch.save(model.state_dict()) as "
                              "sapient's pretrain.py saves step_N)")
    state = strip_prefixes(state)
    table = state.get("inner.puzzle_emb.weights")
    config["num_puzzle_identifiers"] = int(table.shape[0]) if table is not None and table.ndim == 2 else 1
    check_config(config)
    if check:
        check(path, state, config)
    model = ACTV1(config)
    check_state(path, state, model.state_dict())
    # H_init/L_init are saved in the training dtype (bfloat16); everything runs in fp32.
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    name = os.path.basename(path)
    step = int(name[5:]) if name.startswith("step_") and name[5:].isdigit() else 0
    return model.eval(), step
