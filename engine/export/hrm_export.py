#!/usr/bin/python3
"""Export an HRM (family nova or act-v1) to an hrmd model bundle: init.onnx, step.onnx,
golden.json (the check set) and hrm.yaml; act-v1 bundles also carry their puzzle table
(puzzle_emb.bin, identifiers.json).

    /usr/bin/python3 engine/export/hrm_export.py --checkpoint hrm_arc_best.pt --out models/nova
    /usr/bin/python3 engine/export/hrm_export.py --random tiny --seed 1 --out DIR
    /usr/bin/python3 engine/export/hrm_export.py --family act-v1 --checkpoint ckpt/step_N --out DIR
    /usr/bin/python3 engine/export/hrm_export.py --family act-v1 --random tiny --seed 1 --out DIR
    /usr/bin/python3 engine/export/hrm_export.py --family act-v1 --random tiny --task sudoku --out DIR
    /usr/bin/python3 engine/export/hrm_export.py --add-check-set DIR   # a bundle exported without one

golden.json holds real inputs of the model's task (ARC's, or testdata/sudoku's or
testdata/maze's) with the PyTorch fp32 reference, cycle by cycle;
hrmd holds every TensorRT engine it builds to it (tensorrt.fp16_check). A full-size export
takes minutes: it says how far it is on stderr; stdout is the one `wrote ...` line at the end.

Run with Debian's python3-torch 1.13 and python3-onnx. See docs/models.md, "The exporter: your checkpoint to a bundle".

This is the command only: bundle_io.py is what every bundle shares, nova_export.py and
act_export.py write each family's.
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import act_export  # noqa: E402
import bundle_io  # noqa: E402
import nova  # noqa: E402
import nova_export  # noqa: E402
import tasks  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    p.add_argument("--family", choices=("nova", "act-v1"), default="nova",
                   help="nova (dp-web4 HierarchicalReasoningModule, the default) or act-v1 "
                        "(sapientinc/HRM HierarchicalReasoningModel_ACTV1)")
    src.add_argument("--checkpoint", help="nova: a dp-web4 checkpoint (.pt with model_state_dict); "
                                          "act-v1: a sapient step_N file, all_config.yaml beside it")
    src.add_argument("--random", choices=sorted(nova.SIZES), help="a seeded random-init model of this size")
    src.add_argument("--add-check-set", metavar="DIR",
                     help="give a bundle exported without one its check set, from its own graphs "
                          "(or replace a check set of format hrmd-golden/1, which has no margins)")
    p.add_argument("--seed", type=int, default=1, help="seed for --random (default 1)")
    p.add_argument("--task", choices=sorted(tasks.TASKS),
                   help="act-v1: what the model was trained on, for seq_len, vocab_size, the encoding and the "
                        "check set's inputs: arc (900, 12, arc-eos; the default), sudoku (81, 11), maze (900, 6)")
    p.add_argument("--dataset", metavar="DIR",
                   help="act-v1: the dataset the checkpoint was trained on, for its task: a folder with "
                        "dataset.json (or in its test/ or train/), or the file (default: beside the checkpoint, "
                        "then all_config.yaml's data_path)")
    p.add_argument("--identifiers", help="act-v1: the dataset's identifiers.json (default: beside the checkpoint, "
                                         "then in the dataset's folder)")
    p.add_argument("--config", help="act-v1: all_config.yaml (default: beside the checkpoint)")
    p.add_argument("--arch", action="append", metavar="KEY=VALUE",
                   help="act-v1: override one arch setting of all_config.yaml (seq_len, hidden_size, ...)")
    p.add_argument("--out", help="bundle folder to write")
    p.add_argument("--name", help="bundle name (default: the folder's name)")
    p.add_argument("--check-cases", type=int,
                   help=f"how many of the task's inputs the check set holds (default all: ARC "
                        f"{len(bundle_io.GOLDEN_INPUTS)}, sudoku {len(tasks.TASKS['sudoku'].files)}, "
                        f"maze {len(tasks.TASKS['maze'].files)})")
    p.add_argument("--arc", default=bundle_io.default_arc_dir(), help="ARC-AGI-1 folder for the check set's inputs")
    p.add_argument("--constant-output", type=int, metavar="COLOUR", choices=range(10),
                   help="for tests: force every prediction to COLOUR, whatever the input "
                        "(an input-invariant model, the 'Agent Zero' failure hrmd must catch)")
    args = p.parse_args(argv)
    if not os.path.isdir(args.arc) and args.task in (None, "arc"):
        print(f"error: the check set needs the ARC-AGI-1 tasks; {args.arc} is not a folder (set --arc)",
              file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.add_check_set:
        try:
            m = bundle_io.add_check_set(args.add_check_set, args.arc, args.check_cases)
        except (OSError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"wrote {args.add_check_set}/{bundle_io.CHECK_FILE}: {len(bundle_io.GOLDEN_INPUTS[:args.check_cases])} inputs")
        return 0
    if not args.out:
        p.error("--out is required with --checkpoint or --random")
    if args.family == "act-v1":
        return main_act_v1(p, args)
    if args.task not in (None, "arc"):
        p.error("--task is for act-v1 bundles: a nova model reads ARC only")
    if args.checkpoint:
        try:
            model, step = nova.load_checkpoint(args.checkpoint)
        except nova.CheckpointError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        source = {"checkpoint": os.path.basename(args.checkpoint), "step": step,
                  "sha256": bundle_io.sha256_file(args.checkpoint)}
    else:
        model = nova.random_model(args.random, args.seed)
        source = {"checkpoint": f"random-init:{args.random}:seed={args.seed}", "step": 0, "sha256": ""}
    if args.constant_output is not None:
        nova_export.force_constant_output(model, args.constant_output)
        source["checkpoint"] += f":constant-output={args.constant_output}"
    name = args.name or os.path.basename(os.path.normpath(args.out))
    m = nova_export.write_bundle(model, args.out, name, source, args.arc, args.check_cases)
    print(f"wrote {args.out}: {m['name']}, hidden {m['hidden']}, "
          f"init {m['graphs']['init']['sha256'][:12]}, step {m['graphs']['step']['sha256'][:12]}")
    return 0


def main_act_v1(p, args):
    if args.constant_output is not None:
        p.error("--constant-output is for nova bundles only")
    if args.random and (args.dataset or args.identifiers or args.config):
        p.error("--dataset, --identifiers and --config are for --checkpoint; --random takes --task")
    m, err = act_export.export(args)
    if err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    t = m["puzzle_embeddings"]
    print(f"wrote {args.out}: {m['name']}, act-v1, hidden {m['hidden']}, table {t['shape'][0]}x{t['shape'][1]}, "
          f"init {m['graphs']['init']['sha256'][:12]}, step {m['graphs']['step']['sha256'][:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
