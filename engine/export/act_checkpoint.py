"""What an act-v1 checkpoint was trained on: its task (seq_len, vocab_size, encoding), its
dataset.json and identifiers.json, and the checks that hold the checkpoint's shapes to
them, each refusal naming the key and the fix. Called by act_export.export.

sapient's pretrain.py writes step_N and all_config.yaml into the checkpoint folder; the
dataset's builder (dataset/build_*_dataset.py) writes dataset.json into <data_path>/train
and <data_path>/test and identifiers.json into <data_path>, where all_config.yaml's
data_path names it (relative to the folder pretrain.py ran in).
"""

import json
import os

import yaml

import act_v1
import tasks

DATASET_FILE = "dataset.json"
IDENTIFIERS_FILE = "identifiers.json"
BLANK = "<blank>"
# How far above the checkpoint's folder a relative data_path is looked for: pretrain.py
# saves into checkpoints/<project>/<run>/ under the folder it ran in.
DATA_PATH_LEVELS = 4


class Trained:
    """The task a checkpoint was trained on and where that was learnt."""

    def __init__(self, task, where, dataset=None, dataset_path=None):
        self.task, self.where = task, where
        self.dataset, self.dataset_path = dataset, dataset_path

    def fix(self):
        if self.dataset_path:
            return "give the dataset it was trained on (--dataset DIR, the folder of its dataset.json), or --task"
        return "give the task it was trained on with --task, or its dataset with --dataset"


def read_yaml(path):
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise act_v1.CheckpointError(f"{path}: cannot be read: {e}") from e
    return doc if isinstance(doc, dict) else {}


def data_folders(checkpoint, config_path):
    """Where the dataset may be: beside the checkpoint, then all_config.yaml's data_path
    (absolute, or relative to the current folder or to a folder above the checkpoint's)."""
    here = os.path.dirname(os.path.abspath(checkpoint))
    out = [here]
    data_path = read_yaml(config_path).get("data_path") if os.path.exists(config_path) else None
    if isinstance(data_path, str) and data_path:
        if os.path.isabs(data_path):
            out.append(data_path)
        else:
            out.append(os.path.abspath(data_path))
            up = here
            for _ in range(DATA_PATH_LEVELS):
                up = os.path.dirname(up)
                out.append(os.path.join(up, data_path))
    return out


def dataset_file(folder):
    """The dataset.json of a data folder (its own, test/'s or train/'s), or None."""
    for sub in ("", "test", "train"):
        path = os.path.join(folder, sub, DATASET_FILE)
        if os.path.isfile(path):
            return path
    return None


def read_dataset(path):
    """dataset.json's seq_len, vocab_size and num_puzzle_identifiers, checked."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise act_v1.CheckpointError(f"{path}: cannot be read: {e}") from e
    if not isinstance(doc, dict):
        raise act_v1.CheckpointError(f"{path}: not a JSON object; it should be a dataset.json written by "
                                     "sapient's dataset/build_*_dataset.py")
    for key in ("seq_len", "vocab_size", "num_puzzle_identifiers"):
        if not isinstance(doc.get(key), int) or isinstance(doc.get(key), bool) or doc[key] < 1:
            raise act_v1.CheckpointError(f"{path}: {key} is {doc.get(key)!r}; a dataset.json written by sapient's "
                                         "dataset/build_*_dataset.py has it as a positive integer")
    return doc


def task_of(dataset, path):
    for task in tasks.TASKS.values():
        if (dataset["seq_len"], dataset["vocab_size"]) == (task.seq_len, task.vocab):
            return task
    known = ", ".join(f"{t.name} ({t.seq_len}, {t.vocab})" for t in tasks.TASKS.values())
    raise act_v1.CheckpointError(f"{path}: seq_len {dataset['seq_len']} and vocab_size {dataset['vocab_size']} "
                                 f"are none of the tasks hrmd serves: {known}")


def trained_on(checkpoint, config_path, task_name=None, dataset=None):
    """The task (--task, dataset.json, or ARC when neither says) and the dataset.json found."""
    if dataset:
        path = dataset if os.path.isfile(dataset) else dataset_file(dataset)
        if not path:
            raise act_v1.CheckpointError(f"--dataset {dataset}: no dataset.json there, nor in its test/ or "
                                         "train/ (sapient's builders write one into each)")
    else:
        path = next(filter(None, map(dataset_file, data_folders(checkpoint, config_path))), None)
    if path:
        doc = read_dataset(path)
        task = task_of(doc, path)
        if task_name and task_name != task.name:
            raise act_v1.CheckpointError(
                f"--task {task_name} disagrees with {path} (seq_len {doc['seq_len']}, vocab_size "
                f"{doc['vocab_size']}: {task.name}); drop --task, or give the right dataset with --dataset")
        return Trained(task, f"{path} (task {task.name})", doc, path)
    if task_name:
        return Trained(tasks.TASKS[task_name], f"--task {task_name}")
    return Trained(tasks.TASKS["arc"], "task arc (the default: no --task, and no dataset.json beside the "
                                       "checkpoint or in all_config.yaml's data_path)")


def shape_checks(trained):
    """check(path, state, config) for act_v1.load_checkpoint: the checkpoint's vocabulary,
    positions and table against the task's, each refusal naming the key and the fix."""
    task = trained.task

    def check(path, state, config):
        def refuse(key, what):
            raise act_v1.CheckpointError(f"{path}: {key} {what}; {trained.where} says otherwise: {trained.fix()}")
        for key in ("inner.embed_tokens.embedding_weight", "inner.lm_head.weight"):
            rows = rows_of(state, key)
            if rows is not None and rows != task.vocab:
                known = [t.name for t in tasks.TASKS.values() if t.vocab == rows]
                refuse(key, f"has {rows} rows, a vocabulary of {rows}"
                       f"{' (' + known[0] + ')' if known else ''}, not task {task.name}'s {task.vocab}")
        positions = rows_of(state, "inner.embed_pos.embedding_weight")
        learned = config["pos_encodings"] == "learned"
        if positions is not None and not learned:
            raise act_v1.CheckpointError(
                f"{path}: inner.embed_pos.embedding_weight is in the checkpoint (it was trained with pos_encodings "
                f"learned) but the config says {config['pos_encodings']!r}: fix arch.pos_encodings in "
                "all_config.yaml, or give --arch pos_encodings=learned")
        if positions is None and learned and rows_of(state, "inner.embed_tokens.embedding_weight") is not None:
            raise act_v1.CheckpointError(
                f"{path}: the config says pos_encodings learned but the checkpoint has no "
                "inner.embed_pos.embedding_weight (it was trained with rope): fix arch.pos_encodings in "
                "all_config.yaml, or give --arch pos_encodings=rope")
        front = act_v1.puzzle_emb_len(config)
        if positions is not None and positions != task.seq_len + front:
            refuse("inner.embed_pos.embedding_weight",
                   f"has {positions} rows, a seq_len of {positions - front} and {front} puzzle position(s), "
                   f"not task {task.name}'s seq_len {task.seq_len} + {front}")
        table = rows_of(state, "inner.puzzle_emb.weights")
        want = (trained.dataset or {}).get("num_puzzle_identifiers")
        if table is not None and want is not None and table != want:
            raise act_v1.CheckpointError(
                f"{path}: inner.puzzle_emb.weights has {table} rows; {trained.dataset_path} says "
                f"num_puzzle_identifiers {want}: give the dataset the checkpoint was trained on (--dataset DIR)")
    return check


def rows_of(state, key):
    value = state.get(key)
    return int(value.shape[0]) if value is not None and value.ndim == 2 else None


def identifiers(checkpoint, trained, rows, explicit=None):
    """identifiers.json's bytes and where they came from: --identifiers, beside the
    checkpoint, or in the data folder of the dataset.json found; a Sudoku's or a maze's
    one-row table is ["<blank>"], as their builders write it, when none is found."""
    candidates = [explicit] if explicit else [os.path.join(os.path.dirname(os.path.abspath(checkpoint)),
                                                           IDENTIFIERS_FILE)]
    if not explicit and trained.dataset_path:
        folder = os.path.dirname(trained.dataset_path)
        candidates += [os.path.join(folder, IDENTIFIERS_FILE), os.path.join(os.path.dirname(folder), IDENTIFIERS_FILE)]
    for path in candidates:
        if explicit or os.path.isfile(path):
            try:
                with open(path, "rb") as f:
                    data = f.read()
                json.loads(data)
            except (OSError, ValueError) as e:
                raise act_v1.CheckpointError(f"{path}: {e}; give the dataset's identifiers.json with "
                                             "--identifiers") from e
            return data, path
    if trained.task.encoding != "arc-eos" and rows == 1:
        return (json.dumps([BLANK]) + "\n").encode(), f"{trained.task.name}'s only identifier"
    raise act_v1.CheckpointError(
        f"{checkpoint}: no identifiers.json beside it or in the dataset's folder; give the dataset's "
        "identifiers.json (sapient's dataset/build_arc_dataset.py writes it into the data folder, "
        "all_config.yaml's data_path) with --identifiers")
