import math

import pytest
import torch
import torch.nn.functional as F

from memae.nn import Memory, attention_entropy, hard_shrink_relu


def test_hard_shrink_hand_checked():
    w = torch.tensor([[0.5, 0.3, 0.2]])
    out = hard_shrink_relu(w, 0.25)
    torch.testing.assert_close(out, torch.tensor([[0.5, 0.3, 0.0]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(F.normalize(out, p=1, dim=1), torch.tensor([[0.625, 0.375, 0.0]]))


def test_shrinkage_and_renormalisation_in_module():
    torch.manual_seed(0)
    mem = Memory(num_items=4, dim=3, shrink_threshold=0.2, addressing="dot")
    z = torch.randn(5, 3)
    w = torch.softmax(z @ mem.weight.T, dim=1)
    expected = torch.where(w > 0.2, w, torch.zeros_like(w))
    expected = expected / expected.sum(1, keepdim=True)
    out = mem(z)
    torch.testing.assert_close(out.attention, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.output, out.attention @ mem.weight)
    assert torch.allclose(out.attention.sum(1), torch.ones(5))


def test_no_shrinkage_is_plain_softmax_and_cosine_uses_temperature():
    torch.manual_seed(0)
    z = torch.randn(6, 4)
    dot = Memory(10, 4, shrink_threshold=0.0, addressing="dot")
    torch.testing.assert_close(dot(z).attention, torch.softmax(z @ dot.weight.T, 1))
    cos = Memory(10, 4, shrink_threshold=0.0, addressing="cosine", temperature=0.5)
    sim = F.cosine_similarity(z[:, None, :], cos.weight[None], dim=2) / 0.5
    torch.testing.assert_close(cos(z).attention, torch.softmax(sim, 1), atol=1e-6, rtol=1e-5)


def test_default_threshold_is_one_over_n():
    assert Memory(50, 3).shrink_threshold == pytest.approx(1 / 50)


def test_feature_map_addresses_every_location():
    torch.manual_seed(0)
    mem = Memory(20, 8)
    fmap = torch.randn(2, 8, 3, 5)
    out = mem(fmap)
    assert out.output.shape == fmap.shape
    assert out.attention.shape == (2 * 3 * 5, 20)
    # location (b=1, h=2, w=4) equals the vector path on that location's channels
    single = mem(fmap[1, :, 2, 4][None])
    torch.testing.assert_close(out.output[1, :, 2, 4], single.output[0])
    # 3-d maps (video: B, C, T, H, W) too
    assert mem(torch.randn(1, 8, 2, 3, 3)).output.shape == (1, 8, 2, 3, 3)


def test_degenerate_row_falls_back_to_nearest_item_without_nan():
    mem = Memory(num_items=4, dim=2, shrink_threshold=0.9, addressing="dot")
    with torch.no_grad():
        mem.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]))
    z = torch.tensor([[0.3, 0.1], [0.0, -0.2]], requires_grad=True)
    out = mem(z)  # every softmax weight is < 0.9
    assert mem.last_dead_fraction == 1.0
    assert not torch.isnan(out.output).any()
    torch.testing.assert_close(out.output, mem.weight[[0, 3]].detach())
    out.output.sum().backward()
    assert mem.weight.grad is not None and torch.isfinite(mem.weight.grad).all()
    assert mem.weight.grad[0].abs().sum() > 0  # the nearest item still learns


@pytest.mark.parametrize("addressing", ["cosine", "dot"])
def test_equal_similarities_at_the_default_threshold_do_not_depend_on_rounding(addressing):
    """A zero query has equal similarities, so every weight is 1/N = the default lam:
    rounding of the softmax must not decide whether the row is kept (it did, and an
    exported graph, which rounds differently, then scored such rows otherwise)."""
    for n in (3, 7, 10, 11, 50, 100, 300, 500, 2000):
        mem = Memory(num_items=n, dim=4, addressing=addressing)
        out = mem(torch.zeros(3, 4))
        # every such row falls back to the first of its equally near items
        assert mem.last_dead_fraction == 1.0, n
        torch.testing.assert_close(out.output, mem.weight[[0, 0, 0]].detach())


def test_entropy_hand_checked_and_log0_gradient_finite():
    uniform = torch.full((3, 8), 1 / 8)
    assert attention_entropy(uniform).item() == pytest.approx(math.log(8), rel=1e-5)
    onehot = torch.eye(4, requires_grad=True)
    ent = attention_entropy(onehot)
    assert ent.item() == pytest.approx(0.0, abs=1e-9)
    ent.backward()
    assert torch.isfinite(onehot.grad).all()


def test_gradients_reach_memory_and_query():
    torch.manual_seed(0)
    mem = Memory(16, 4)
    z = torch.randn(8, 4, requires_grad=True)
    out = mem(z)
    (out.output.pow(2).sum() + attention_entropy(out.attention)).backward()
    assert z.grad.abs().sum() > 0 and mem.weight.grad.abs().sum() > 0


def test_temperature_prevents_all_pruned_rows_at_init():
    """The documented pitfall: cosine addressing, N=2000, lam=5/N (official 0.0025).

    The default is the paper's plain cosine (temperature 1); with lam above 1/N a
    lower temperature is what keeps rows alive at initialisation."""
    torch.manual_seed(0)
    z = torch.randn(512, 256)
    plain = Memory(2000, 256, shrink_threshold=0.0025, temperature=1.0)
    plain(z)
    assert plain.last_dead_fraction > 0.9  # without a temperature nearly every row dies
    tempered = Memory(2000, 256, shrink_threshold=0.0025, temperature=0.1)
    tempered(z)
    assert tempered.last_dead_fraction < 0.05


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="addressing"):
        Memory(10, 3, addressing="l2")
    with pytest.raises(ValueError, match="shrink_threshold"):
        Memory(10, 3, shrink_threshold=1.5)
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        Memory(10, 3)(torch.randn(4, 5))


def test_branch_free_addressing_equals_the_branch(monkeypatch):
    """The GPU path (no data-dependent branch, no host sync) gives the CPU path's
    weights bit for bit, dead rows included, and the same dead fraction."""
    torch.manual_seed(0)
    mem = Memory(num_items=20, dim=4, shrink_threshold=0.1)  # lam > 1/N: some rows die
    q = torch.randn(64, 4)
    branch = mem.address(q)
    dead = mem.last_dead_fraction
    assert 0 < dead < 1
    monkeypatch.setattr(Memory, "_branch_free", staticmethod(lambda w: True))
    assert torch.equal(mem.address(q), branch)
    assert mem.last_dead_fraction == dead
    live = Memory(num_items=20, dim=4)  # lam = 1/N: no dead row, the fraction is 0
    live.address(q)
    assert live.last_dead_fraction == 0.0


@pytest.mark.parametrize("dim", [4, 64])
def test_memory_compiles_without_graph_breaks(dim):
    """torch.compile traces the addressing as one graph, training and scoring: under
    compilation the dead-row branch is the branch-free form (a data-dependent ``if``
    would break the graph), which gives the same weights and gradients. With 64 > 20
    values per item the cosine is the divide-afterwards form and its own backward."""
    torch.manual_seed(0)
    mem = Memory(num_items=20, dim=dim, shrink_threshold=0.1)  # some rows die
    q = torch.randn(64, dim, requires_grad=True)

    def loss(q: torch.Tensor) -> torch.Tensor:
        out = mem(q)
        return out.output.square().sum() + out.entropy.sum()

    explained = torch._dynamo.explain(loss)(q)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0)
    with torch.no_grad():
        assert torch._dynamo.explain(mem)(q).graph_break_count == 0
    # the traced graph computes what eager does (aot_eager: no C compiler needed)
    eager = loss(q)
    (grad,) = torch.autograd.grad(eager, q)
    traced = torch.compile(loss, backend="aot_eager", fullgraph=True)(q)
    (traced_grad,) = torch.autograd.grad(traced, q)
    torch.testing.assert_close(traced, eager)
    torch.testing.assert_close(traced_grad, grad)


def _literal(
    sim: torch.Tensor, lam: float, eps: float = 1e-12
) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's Eq. (6)-(7) and (9) as written, through autograd: weights and entropy."""
    w = torch.softmax(sim, dim=1)
    if lam > 0:
        w = hard_shrink_relu(w, lam, eps)
        w = w / w.sum(1, keepdim=True)
    return w, -(w * torch.log(w + 1e-12)).sum(1)


@pytest.mark.parametrize(
    ("addressing", "lam", "dim"),
    [("cosine", 1 / 40, 6), ("cosine", 1 / 40, 64), ("dot", 0.03, 6), ("dot", 0.0, 6)],
)
def test_fused_addressing_matches_the_literal_formula(addressing, lam, dim):
    """Forward, entropy and gradients of the hand-written path equal the paper's formula
    computed step by step by autograd (float64, eps -> 0). With 64 > 40 values per item
    the cosine divides the raw product by the norms afterwards (``_cosine``)."""
    torch.manual_seed(0)
    mem = Memory(40, dim, shrink_threshold=lam, addressing=addressing).double()
    q = torch.randn(32, dim, dtype=torch.float64, requires_grad=True)
    out = mem(q)
    g_out, g_ent = torch.randn_like(out.output), torch.randn(32, dtype=torch.float64)
    grads = torch.autograd.grad(
        (out.output * g_out).sum() + (out.entropy * g_ent).sum(), [q, mem.weight]
    )

    if addressing == "cosine":
        sim = F.normalize(q, dim=1) @ F.normalize(mem.weight, dim=1).T
    else:
        sim = q @ mem.weight.T
    w_ref, ent_ref = _literal(sim, lam, eps=1e-30)  # the eps -> 0 limit, in float64
    ref = torch.autograd.grad(
        ((w_ref @ mem.weight) * g_out).sum() + (ent_ref * g_ent).sum(), [q, mem.weight]
    )
    torch.testing.assert_close(out.attention, w_ref, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(out.entropy, ent_ref, rtol=1e-9, atol=1e-12)  # log(w + 1e-12)
    for mine, theirs in zip(grads, ref, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-12)
    if lam > 0:
        assert (out.attention == 0).any()  # shrinkage did prune something
    # the entropy field is the mean-entropy loss term's per-row form
    torch.testing.assert_close(out.entropy.mean(), attention_entropy(out.attention))


@pytest.mark.parametrize("shape", [(50, 3), (10, 64)])
def test_both_cosine_forms_equal_the_normalised_product(shape):
    """``_cosine`` normalises first (more items than values) or divides the raw product by
    the norms (whole-code items); both are ``F.normalize``'s cosine over T, zero rows
    included (cosine 0, as F.normalize's floor gives), with the same gradients."""
    from memae.nn.memory import _cosine

    torch.manual_seed(2)
    n, c = shape
    q = torch.randn(16, c, dtype=torch.float64)
    q[3] = 0.0
    q.requires_grad_()
    items = torch.randn(n, c, dtype=torch.float64, requires_grad=True)
    g = torch.randn(16, n, dtype=torch.float64)
    sim = _cosine(q, items, 0.5, hand_grad=True)
    # inference and export compute the same numbers without the hand-written backward
    assert torch.equal(_cosine(q, items, 0.5, hand_grad=False), sim)
    ref = F.normalize(q, dim=1) @ F.normalize(items, dim=1).T / 0.5
    torch.testing.assert_close(sim, ref, rtol=1e-12, atol=1e-14)
    assert (sim[3] == 0).all()
    grads = torch.autograd.grad((sim * g).sum(), [q, items])
    ref_grads = torch.autograd.grad((ref * g).sum(), [q, items])
    for mine, theirs in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-12)
    # a frozen side gets no gradient, the other the same one
    (only_q,) = torch.autograd.grad(
        (_cosine(q, items.detach(), 0.5, hand_grad=True) * g).sum(), [q]
    )
    torch.testing.assert_close(only_q, ref_grads[0], rtol=1e-10, atol=1e-12)
    # finite differences, away from the zero row (the norm's floor has no derivative there)
    live = q.detach()[4:].requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: _cosine(a, b, 0.5, hand_grad=True), (live, items))


def test_fused_backward_passes_gradcheck():
    """The hand-written backward against finite differences (float64)."""
    from memae.nn.memory import _SparseAttention

    torch.manual_seed(1)
    sim = torch.randn(8, 12, dtype=torch.float64, requires_grad=True)
    w = torch.softmax(sim.detach(), 1)
    lam = 0.09
    assert ((w - lam).abs() > 1e-5).all()  # steps of 1e-6 never cross the threshold

    def f(s):
        w, ent, _ = _SparseAttention.apply(s, lam, s.detach().amax(1, keepdim=True), False)
        return w, ent

    assert torch.autograd.gradcheck(f, (sim,))


def test_weight_at_the_threshold_does_not_spike_the_gradient():
    """The literal formula's eps = 1e-12 turns a weight a hair above lam into a huge
    gradient (w * eps / (w - lam)^2); memae's gradient is the eps -> 0 limit."""
    sim = torch.tensor([[2.0, 1.0, 0.0, -1.0]], dtype=torch.float64)
    w = torch.softmax(sim, 1)
    lam = float(w[0, 2]) - 1e-10  # item 2 is kept by 1e-10
    mem = Memory(4, 4, shrink_threshold=lam, addressing="dot").double()
    with torch.no_grad():
        mem.weight.copy_(torch.eye(4, dtype=torch.float64))
    q = sim.clone().requires_grad_()  # dot with the identity: the similarities are q
    out = mem(q)
    (out.attention[0, 0]).backward()
    limit = q.grad.clone()
    q2 = sim.clone().requires_grad_()
    _literal(q2, lam)[0][0, 0].backward()
    assert limit.abs().max() < 1  # a softmax's Jacobian entries are at most 1/4
    assert q2.grad.abs().max() > 100 * limit.abs().max()  # the literal form spikes
