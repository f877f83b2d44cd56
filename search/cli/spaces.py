"""``mnist-hpo spaces``: list, show and dry-run-sample search spaces."""

from __future__ import annotations

import argparse
import json
from typing import Any

import yaml

from mnist_hpo.search.cli.args import positive_int
from mnist_hpo.spaces import load_space, preset_names, sample_configs


def add_parser(sub: Any) -> None:
    p = sub.add_parser("spaces", help="list, show and sample search spaces",
                       description="Without an action: list the built-in spaces.")
    p.set_defaults(run=_list)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser("show", help="print a space as YAML (a start for your own file)")
    show.add_argument("space", metavar="NAME|FILE")
    show.set_defaults(run=_show)
    sample = actions.add_parser("sample", help="print sampled configurations (a dry run)")
    sample.add_argument("space", metavar="NAME|FILE")
    sample.add_argument("-n", type=positive_int, default=5, help="how many (default: 5)")
    sample.add_argument("--seed", type=int, default=0, help="sampler seed (default: 0)")
    sample.set_defaults(run=_sample)


def _list(args: argparse.Namespace) -> int:
    rows = [load_space(name) for name in preset_names()]
    width = max(len(s.name) for s in rows)
    print(f"{'space':<{width}}  epochs  searched  description")
    for s in rows:
        print(f"{s.name:<{width}}  {s.epochs:>6}  {len(s.searched):>8}  {s.description}")
    print("\nYour own space: a YAML file (see `mnist-hpo spaces show default`), "
          "passed by path wherever a space name goes.")
    return 0


def _show(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    print(f"# {space.name}: {space.description} ({space.source})")
    print(f"# searched: {', '.join(space.searched) or 'nothing (a fixed configuration)'}")
    print(yaml.safe_dump(space.to_yaml_dict(), sort_keys=False, default_flow_style=None), end="")
    return 0


def _sample(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    for config in sample_configs(space, args.n, seed=args.seed):
        print(json.dumps(config))
    return 0
