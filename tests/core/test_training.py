"""The training machinery every trainer shares (talkface.training)."""
from __future__ import annotations

import csv

import pytest
import torch

from talkface.training import (CsvLog, RunCheckpoints, cosine_decay, load_module_tensors, module_tensors,
                               optimizer_tensors, restore_optimizer, set_lr, warmup_linear_decay)


def _stepped_adam(seed: int) -> tuple[torch.nn.Linear, torch.optim.Adam]:
    torch.manual_seed(seed)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(4, 3)).pow(2).sum().backward()
        opt.step()
    return net, opt


def test_training_state_round_trip_resumes_identically(tmp_path):
    net, opt = _stepped_adam(0)
    run = RunCheckpoints(tmp_path, {"kind": "test"})
    assert run.load_last() is None
    run.save_last({**module_tensors("model", net), **optimizer_tensors(opt)}, {"step": 3})

    fresh, fresh_opt = _stepped_adam(1)  # different weights and moments
    state, meta = run.load_last()
    load_module_tensors(fresh, state, "model")
    restore_optimizer(fresh_opt, state)
    assert meta == {"kind": "test", "progress": {"step": 3}}

    x = torch.randn(4, 3)
    for model, optimiser in ((net, opt), (fresh, fresh_opt)):
        optimiser.zero_grad()
        model(x).pow(2).sum().backward()
        optimiser.step()
    for a, b in zip(net.parameters(), fresh.parameters()):
        assert torch.equal(a, b)


def test_restore_optimizer_reads_only_its_prefix():
    _, opt_a = _stepped_adam(0)
    _, opt_b = _stepped_adam(1)
    tensors = {**optimizer_tensors(opt_a, "opt_a"), **optimizer_tensors(opt_b, "opt_b")}
    _, target = _stepped_adam(2)
    restore_optimizer(target, tensors, "opt_b")
    for name, value in optimizer_tensors(target, "opt_b").items():
        assert torch.equal(value, tensors[name])


def test_run_checkpoints_save_model_carries_the_shared_sidecar(tmp_path):
    run = RunCheckpoints(tmp_path, {"kind": "test", "config": {"a": 1}})
    path = run.save_model("best", {"w": torch.ones(2)}, step=7)
    assert path == run.best and path.is_file()
    assert '"step": 7' in path.with_suffix(".json").read_text()
    assert '"config"' in path.with_suffix(".json").read_text()


def test_csv_log_blanks_missing_values_and_appends_on_resume(tmp_path):
    path = tmp_path / "log.csv"
    CsvLog(path, ["step", "loss", "val"], fresh=True).write({"step": 1, "loss": 0.123456789})
    CsvLog(path, ["step", "loss", "val"], fresh=False).write({"step": 2, "val": 2.5})
    rows = list(csv.reader(path.open()))
    assert rows == [["step", "loss", "val"], ["1", "0.123457", ""], ["2", "", "2.5"]]
    CsvLog(path, ["step"], fresh=True)
    assert list(csv.reader(path.open())) == [["step"]]


def test_schedules():
    assert cosine_decay(1.0, 0.0, floor=0.05) == pytest.approx(1.0)
    assert cosine_decay(1.0, 0.5, floor=0.05) == pytest.approx(0.525)
    assert cosine_decay(1.0, 2.0, floor=0.05) == pytest.approx(0.05)  # clipped past the end
    assert warmup_linear_decay(1.0, 0, warmup_steps=10, decay_steps=0, max_steps=100) == pytest.approx(0.1)
    assert warmup_linear_decay(1.0, 50, warmup_steps=10, decay_steps=20, max_steps=100) == 1.0
    assert warmup_linear_decay(1.0, 90, warmup_steps=10, decay_steps=20, max_steps=100) == pytest.approx(0.5)
    assert warmup_linear_decay(1.0, 120, warmup_steps=0, decay_steps=20, max_steps=100) == 0.0


def test_set_lr_sets_every_group():
    net = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD([{"params": [net.weight]}, {"params": [net.bias]}], lr=1.0)
    set_lr(0.25, opt)
    assert [g["lr"] for g in opt.param_groups] == [0.25, 0.25]
