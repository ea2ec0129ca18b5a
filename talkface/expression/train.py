"""Training the expression model (talkface/expression/network.py) on RaFD's neutral -> expression pairs.

`talkface train expression --config configs/expression/rafd.yaml`. People are split once (split_seed): the test
people are never trained on nor used to choose anything. The other (training) people are cut into `val_folds`
folds; each weight decay is trained on all folds but one and scored on the left-out fold's frontal pairs every
`eval_every` steps, and the weight decay and step count with the lowest validation error averaged over the folds
are chosen (early stopping by cross-validation: one 10-person validation split was too noisy to choose with).
The final model is then fitted on all training people with that choice. The class means and the neutral-shape
PCA are computed on the frontal camera's pairs of the people a net is trained on.
Full-batch Adam on CPU, weight decay as an L2 penalty on the weights (ridge-like): seconds per setting.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from talkface.checkpoint import hardware_summary, save_model
from talkface.config import config_dict
from talkface.errors import TalkfaceError
from talkface.expression import EXPRESSIONS
from talkface.expression.geometry import INNER_FACE, expression_error
from talkface.expression.network import ExpressionNet
from talkface.expression.rafd import CAMERAS, Pairs, load_pairs, mirrored, rafd_root
from talkface.training import CsvLog, start_run

DATA_TERMS = ("Radboud Faces Database (Langner et al. 2010, Cognition & Emotion 24(8)): research use only; "
              "landmarks (106 Face++ points) as published with github.com/zhangzjn/FReeNet (MIT repository, "
              "datasets/RaFD/); no images redistributed")
FRONTAL = 90


@dataclass
class ExpressionConfig:
    SECTIONS = {"model": ("components", "hidden"),
                "data": ("rafd_root", "cameras", "test_people", "val_folds", "split_seed", "mirror"),
                "loss": ("jaw_weight",),
                "optim": ("lr", "weight_decays", "max_steps", "eval_every"),
                "run": ("out_dir", "ship_to", "seed", "threads")}
    components: int = 12
    hidden: list[int] = field(default_factory=list)
    rafd_root: str = "../shared/data/expr/rafd"
    cameras: list[int] = field(default_factory=lambda: [90])
    test_people: int = 15
    val_folds: int = 5
    split_seed: int = 0
    mirror: bool = True             # left-right mirrored pairs (not contempt: it is one-sided)
    jaw_weight: float = 0.5         # loss weight of the jaw points 0-16 (the measure reads 17-67)
    lr: float = 1e-2
    weight_decays: list[float] = field(default_factory=lambda: [3e-4, 1e-3, 3e-3, 1e-2])
    max_steps: int = 1500
    eval_every: int = 50
    out_dir: str = "runs/expression"
    ship_to: str = ""               # also write the final model here (e.g. talkface/expression/data/expression)
    seed: int = 0
    threads: int = 1


def person_split(people: list[str], test: int, folds: int, seed: int) -> dict:
    """{"test": sorted ids, "train": sorted ids, "folds": [sorted ids of each validation fold]}, drawn by `seed`."""
    order = [people[i] for i in np.random.default_rng(seed).permutation(len(people))]
    train = order[test:]
    return {"test": sorted(order[:test]), "train": sorted(train),
            "folds": [sorted(train[k::folds]) for k in range(folds)]}


def statistics(frontal: Pairs, components: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(class means (8, 68, 2), neutral shape mean (136,), whitened PCA basis (k, 136)) of frontal pairs."""
    class_mean = np.zeros((len(EXPRESSIONS), 68, 2), np.float32)
    for e in range(1, len(EXPRESSIONS)):
        class_mean[e] = frontal.displacement[frontal.expression == e].mean(0)
    # each neutral face appears once per expression: take it once
    _, first = np.unique([f"{p}/{g}" for p, g in zip(frontal.person, frontal.gaze)], return_index=True)
    shapes = frontal.neutral[first].reshape(len(first), -1).astype(np.float64)
    mean = shapes.mean(0)
    _, s, vt = np.linalg.svd(shapes - mean, full_matrices=False)
    std = s[:components] / np.sqrt(len(shapes) - 1)
    return class_mean, mean.astype(np.float32), (vt[:components] / std[:, None]).astype(np.float32)


def tensors(pairs: Pairs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (torch.from_numpy(pairs.neutral), torch.from_numpy(pairs.expression.astype(np.int64)),
            torch.from_numpy(pairs.displacement))


def point_weights(jaw_weight: float) -> torch.Tensor:
    w = torch.ones(68)
    w[:INNER_FACE.start] = jaw_weight
    return w / w.mean()


def errors(net: ExpressionNet, pairs: Pairs) -> np.ndarray:
    """Per pair: the expression error of neutral + predicted displacement against the real expressive shape."""
    with torch.no_grad():
        pred = net(torch.from_numpy(pairs.neutral), torch.from_numpy(pairs.expression.astype(np.int64))).numpy()
    return expression_error(pairs.neutral + pred, pairs.target)


def concat(a: Pairs, b: Pairs) -> Pairs:
    return Pairs(*(np.concatenate([getattr(a, f), getattr(b, f)])
                   for f in ("neutral", "target", "expression", "person", "camera", "gaze")))


def fit(config: ExpressionConfig, train: Pairs, weight_decay: float, steps: int,
        val: Pairs | None = None) -> tuple[ExpressionNet, list[float]]:
    """(net after `steps` full-batch steps, mean validation error at steps 0, eval_every, 2 eval_every ...
    when `val` is given). Weight decay is an L2 penalty on the weights (not the biases): ridge-like."""
    torch.manual_seed(config.seed)
    net = ExpressionNet(config.components, tuple(config.hidden))
    net.set_statistics(*(torch.from_numpy(a) for a in statistics(train.select(train.camera == FRONTAL),
                                                                   config.components)))
    data = train
    if config.mirror:
        data = concat(train, mirrored(train.select(train.expression != EXPRESSIONS.index("contemptuous"))))
    neutral, expression, target = tensors(data)
    weights = point_weights(config.jaw_weight)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    penalised = [layer.weight for layer in net.layers]
    curve = [float(errors(net, val).mean())] if val is not None else []
    for step in range(1, steps + 1):
        pred = net(neutral, expression)
        loss = (((pred - target) ** 2).sum(-1) * weights).mean()
        loss = loss + weight_decay * sum((w ** 2).sum() for w in penalised)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if val is not None and step % config.eval_every == 0:
            curve.append(float(errors(net, val).mean()))
    return net, curve


def cross_validate(config: ExpressionConfig, pairs: Pairs, folds: list[list[str]], log: CsvLog) -> list[dict]:
    """Per weight decay: the validation curve averaged over the folds (frontal pairs of the left-out people),
    its best step and error."""
    search = []
    for wd in config.weight_decays:
        curves, sizes = [], []
        for fold in folds:
            held = np.isin(pairs.person, fold)
            val = pairs.select(held & (pairs.camera == FRONTAL))
            _, curve = fit(config, pairs.select(~held), wd, config.max_steps, val)
            curves.append(curve)
            sizes.append(len(val))
        mean = np.average(np.array(curves), axis=0, weights=sizes)
        for i, value in enumerate(mean):
            log.write({"weight_decay": wd, "step": i * config.eval_every, "val_error": float(value)})
        best = int(np.argmin(mean))
        search.append({"weight_decay": wd, "best_step": best * config.eval_every, "val_error": float(mean[best]),
                       "val_error_at_0": float(mean[0])})
        print(f"weight decay {wd:g}: cross-validated error {mean[best]:.4f} at step {best * config.eval_every} "
              f"(class mean {mean[0]:.4f})", flush=True)
    return search


def held_out_table(net: ExpressionNet, test: Pairs) -> dict:
    """Per expression and overall on test pairs: mean error of the model, no change and the class mean, n."""
    model = errors(net, test)
    none = expression_error(test.neutral, test.target)
    mean = expression_error(test.neutral + net.class_mean.numpy()[test.expression], test.target)
    table = {}
    for e, name in enumerate(EXPRESSIONS[1:], 1):
        m = test.expression == e
        table[name] = {"model": float(model[m].mean()), "no_change": float(none[m].mean()),
                       "class_mean": float(mean[m].mean()), "n": int(m.sum())}
    table["all"] = {"model": float(model.mean()), "no_change": float(none.mean()), "class_mean": float(mean.mean()),
                    "n": len(test)}
    return table


def train(config: ExpressionConfig) -> Path:
    out_dir = start_run(config.threads, config.seed, config.out_dir)
    started = time.time()
    unknown = sorted(set(config.cameras) - set(CAMERAS))
    if unknown or FRONTAL not in config.cameras:
        raise TalkfaceError(f"cameras {config.cameras}: allowed {CAMERAS}, and {FRONTAL} (frontal) must be one")
    pairs = load_pairs(config.rafd_root, tuple(config.cameras))
    split = person_split(sorted(set(pairs.person)), config.test_people, config.val_folds, config.split_seed)
    train_pairs = pairs.select(np.isin(pairs.person, split["train"]))
    log = CsvLog(out_dir / "log.csv", ["weight_decay", "step", "val_error"], fresh=True)
    search = cross_validate(config, train_pairs, split["folds"], log)
    chosen = min(search, key=lambda s: s["val_error"])
    net, _ = fit(config, train_pairs, chosen["weight_decay"], chosen["best_step"])
    test = pairs.select(np.isin(pairs.person, split["test"]) & (pairs.camera == FRONTAL))
    table = held_out_table(net, test)
    for name, row in table.items():
        print(f"{name:13s} n={row['n']:3d} model {row['model']:.4f}  class mean {row['class_mean']:.4f}  "
              f"no change {row['no_change']:.4f}")
    provenance = dict(
        train_config=config_dict(config),
        data={"source": str(rafd_root(config.rafd_root)), "terms": DATA_TERMS, "cameras": list(config.cameras),
              "split_seed": config.split_seed, "test_people": split["test"], "train_people": split["train"],
              "val_folds": split["folds"], "pairs_trained_on": len(train_pairs), "test_pairs": len(test),
              "landmarks": "Face++ 106 -> iBUG-68 by talkface/expression/facepp.py"},
        search=search, chosen=chosen, step=chosen["best_step"],
        hardware=hardware_summary("cpu"), minutes=(time.time() - started) / 60,
        test={"measure": "inner-face points 17-67, mean distance / interocular after a similarity on eye corners "
                         "36,39,42,45 + nose 27-35; frontal camera, 3 gazes per person", "per_expression": table})
    best = save_model(out_dir / "best", net, **provenance)
    if config.ship_to:
        save_model(config.ship_to, net, **provenance)
    return best
