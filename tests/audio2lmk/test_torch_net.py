"""The torch runner of the learned audio2lmk (audio2lmk.torch_net): a batch worker's torch-backend audio2lmk keeps a
lone process's thread count where the sums' order depends on it (talkface.stages._share_torch_threads)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from audio2lmk.features import model_mel, utterance_level  # noqa: E402
from audio2lmk.torch_net import TorchMotionNet  # noqa: E402
from tests.audio2lmk.test_audio2lmk_learned import speech_like, tiny_net  # noqa: E402


def test_convolutions_and_linear_layers_on_the_pinned_count_the_lstm_on_the_callers():
    net = TorchMotionNet(tiny_net("lstm"))
    seen = []
    net.on_threads(torch.get_num_threads() + 2)
    for layer in net.module.modules():  # registered after the pins: they see the count the layer computes on
        if isinstance(layer, (torch.nn.Conv1d, torch.nn.LSTM, torch.nn.Linear)):
            layer.register_forward_pre_hook(lambda layer, _: seen.append((type(layer).__name__,
                                                                          torch.get_num_threads())))
    before = torch.get_num_threads()
    mel = model_mel(speech_like(1.0), 25)
    out = net(mel, utterance_level(mel))
    assert out.shape == (25, net.out_features) and np.abs(out).max() > 0
    assert seen == [("Conv1d", before + 2), ("LSTM", before), ("Linear", before + 2)]
    assert torch.get_num_threads() == before  # restored after each layer
