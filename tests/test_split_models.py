"""Split CNN specs: FLOPs and shapes by hand, the modules agree with them, head + tail == the whole network."""

from __future__ import annotations

import numpy as np
import pytest

from edgesplit.split.models import (
    BottleneckSpec,
    SplitCNNSpec,
    block_table,
    bottleneck_shape,
    build_student,
    build_teacher,
    count_flops,
    head_tail_flops,
    layer_table,
    stage_shapes,
    student_head,
    student_tail,
)

SPEC = SplitCNNSpec(input_shape=(1, 8, 8), stages=((4, 6), (8,)), hidden=16, num_classes=10, seed=3)
BN = BottleneckSpec(channels=2, stride=2, decoder_hidden=5)


def test_flops_and_shapes_by_hand():
    conv11 = 8 * 8 * 4 * 1 * 9
    conv12 = 8 * 8 * 6 * 4 * 9
    conv2 = 4 * 4 * 8 * 6 * 9
    fc = 8 * 2 * 2 * 16 + 16 * 10
    assert count_flops(SPEC) == 2 * (conv11 + conv12 + conv2 + fc)
    assert stage_shapes(SPEC) == [(1, 8, 8), (6, 4, 4), (8, 2, 2)]
    assert bottleneck_shape(SPEC, 1, BN) == (2, 2, 2)
    enc = 2 * 2 * 2 * 6 * 9
    dec = 2 * 2 * 5 * 2 * 9 + 4 * 4 * 6 * 5 * 9
    head, tail = head_tail_flops(SPEC, 1, BN)
    assert head == 2 * (conv11 + conv12 + enc)
    assert tail == 2 * (dec + conv2 + fc)
    assert head_tail_flops(SPEC, 2) == (2 * (conv11 + conv12 + conv2), 2 * fc)


def test_layer_table_order_and_blocks():
    layers = layer_table(SPEC, 1, BN)
    assert [x.block for x in layers][:6] == ["stage1"] * 3 + ["encoder", "decoder", "decoder"]
    blocks = block_table(layers)
    assert [b.name for b in blocks] == ["stage1", "encoder", "decoder", "stage2", "classifier"]
    assert blocks[1].out_shape == (2, 2, 2) and blocks[2].out_shape == (6, 4, 4)
    assert sum(b.flops for b in blocks) == sum(x.flops for x in layers)
    assert layers[0].f32_bytes == 4 * 4 * 8 * 8 and layers[0].u8_bytes == 4 * 8 * 8


@pytest.mark.parametrize(
    "bad",
    [
        {"stages": ()},
        {"stages": ((4,), ())},
        {"kernel": 2},
        {"input_shape": (1, 4, 4), "stages": ((2,), (2,), (2,))},
        {"num_classes": 1},
    ],
)
def test_bad_specs(bad):
    with pytest.raises(ValueError):
        SplitCNNSpec(**bad)


def test_spec_round_trips_through_json():
    assert SplitCNNSpec.from_dict(SPEC.to_dict()) == SPEC
    assert BottleneckSpec.from_dict(BN.to_dict()) == BN


def _shapes(module, x):
    import torch

    with torch.inference_mode():
        return tuple(module(x).shape[1:])


@pytest.mark.parametrize("size", [8, 9, 28])  # odd sizes: the decoder upsamples to the exact stage size
def test_modules_match_the_table(size):
    import torch

    spec = SplitCNNSpec(input_shape=(1, size, size), stages=((4,), (6,)), hidden=0)
    teacher = build_teacher(spec).eval()
    x = torch.rand(3, 1, size, size)
    for k in (1, 2):
        assert _shapes(teacher[:k], x) == stage_shapes(spec)[k]
        student = build_student(teacher, spec, k, BN).eval()
        assert _shapes(student_head(student), x) == bottleneck_shape(spec, k, BN)
        assert _shapes(student.decoder, student_head(student)(x)) == stage_shapes(spec)[k]
        assert _shapes(student, x) == (spec.num_classes,)


def test_head_plus_tail_is_the_whole_network():
    import torch

    teacher = build_teacher(SPEC).eval()
    x = torch.rand(5, 1, 8, 8)
    with torch.inference_mode():
        whole = teacher(x)
        for k in (1, 2):
            np.testing.assert_allclose(teacher[k:](teacher[:k](x)), whole, rtol=1e-5, atol=1e-6)
        student = build_student(teacher, SPEC, 1, BN).eval()
        np.testing.assert_allclose(student_tail(student)(student_head(student)(x)), student(x), rtol=1e-5, atol=1e-6)
    # the student's head and tail are copies: training them leaves the teacher alone
    assert student.head[0][0].weight.data_ptr() != teacher[0][0].weight.data_ptr()
    assert torch.equal(student.head[0][0].weight, teacher[0][0].weight)


def test_same_seed_same_weights():
    import torch

    a, b = build_teacher(SPEC), build_teacher(SPEC)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_split_point_out_of_range():
    with pytest.raises(ValueError):
        bottleneck_shape(SPEC, 3, BN)
    with pytest.raises(ValueError):
        head_tail_flops(SPEC, 0)
