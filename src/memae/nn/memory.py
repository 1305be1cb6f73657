"""The MemAE memory module (Gong et al., ICCV 2019, Section 3.3).

The encoder's code is used as a query into a learnable memory of ``N`` prototype
items. Addressing weights are a softmax over similarities, sparsified by hard
shrinkage and renormalised; the decoder then sees only a convex combination of
memory items, which is what keeps anomalies from being reconstructed well.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Addressing = Literal["cosine", "dot"]


class MemoryOutput(NamedTuple):
    """Result of :class:`Memory`.

    Attributes
    ----------
    output : Tensor
        The memory read-out ``z_hat = w_hat @ M``, same shape as the query.
    attention : Tensor
        The addressing weights ``w_hat``, shape ``(Q, N)`` where ``Q`` is the number
        of queries (batch size, times every spatial/temporal location for maps).
        Every row sums to 1.
    entropy : Tensor
        The entropy ``-sum_i w_hat_i log w_hat_i`` of every row of ``attention``,
        shape ``(Q,)`` (its mean is the paper's Eq. (9) loss term), computed in
        closed form from the similarities rather than from ``log(w_hat)``.
    """

    output: Tensor
    attention: Tensor
    entropy: Tensor


def hard_shrink_relu(w: Tensor, lam: float, eps: float = 1e-12) -> Tensor:
    """Continuous hard shrinkage of the paper's Eq. (7).

    ``w_hat = relu(w - lam) * w / (|w - lam| + eps)``: entries below ``lam`` become 0,
    entries above keep (almost exactly) their value, and the expression stays
    differentiable almost everywhere, unlike a plain indicator.
    """
    shifted = w - lam
    return F.relu(shifted) * w / (shifted.abs() + eps)


# A weight is kept only if it exceeds lam by this relative margin. Equal similarities
# (an all-zero query, common behind a ReLU code) give every weight 1/N, which is the
# default lam: without a margin, the last bit of the softmax's rounding would decide
# whether such a row is kept whole or dropped, and eager PyTorch and an exported graph
# round differently. 1e-5 is far above that rounding and far below any weight gap
# that matters.
_KEEP_MARGIN = 1.0 + 1e-5

# F.normalize's floor on a norm: an all-zero query or item has cosine 0 with everything.
_NORM_EPS = 1e-12


def _cosine(query: Tensor, items: Tensor, temperature: float, hand_grad: bool) -> Tensor:
    """``cos(q, m_i) / T`` for every query row and item, ``(Q, N)`` (Eq. 5).

    Where an item has more values than there are items (whole-code items: 1,024 values,
    100 items), the raw product ``query @ items.T`` is divided by the two norms afterwards,
    on the ``(Q, N)`` result, instead of normalising the ``(Q, C)`` queries and the
    ``(N, C)`` items first, and the gradient is written by hand (:class:`_Cosine`):
    autograd's backward of the two normalisations, a dozen passes over ``(128, 1024)``
    tensors on the ``mnist`` preset, cost about as much as the memory's matrix products
    (issue 20). Otherwise (KDD: 50 items of 3 values) the inputs are normalised first,
    the smaller work. Both are ``F.normalize``'s cosine, with its floor on the norms, and
    differ at float rounding only. ``hand_grad``: training (not exporting), as
    :meth:`Memory._attend` decides for both of its hand-written backwards.
    """
    if items.shape[1] <= items.shape[0]:
        # Scale the small (N, C) item matrix by 1/T rather than the (Q, N) similarities.
        return F.normalize(query, dim=1) @ (F.normalize(items, dim=1) / temperature).T
    if hand_grad:
        return _Cosine.apply(query, items, temperature)
    return _divided_product(query, items, temperature)[0]


def _divided_product(
    query: Tensor, items: Tensor, temperature: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(sim, |q|, |m|, denominator)`` of the divide-afterwards cosine."""
    q_norm = torch.linalg.vector_norm(query, dim=1, keepdim=True).clamp_min(_NORM_EPS)
    m_norm = torch.linalg.vector_norm(items, dim=1).clamp_min(_NORM_EPS)
    denom = q_norm * (m_norm * temperature)
    return (query @ items.T).div_(denom), q_norm, m_norm, denom


class _Cosine(torch.autograd.Function):
    """The divide-afterwards cosine of :func:`_cosine` with a hand-written backward.

    With ``s = r / d``, ``r = q m^T`` and ``d = |q| |m| T``:
    ``dL/dq = (G / d) @ M - (sum_i G_i s_i / |q|^2) q``, and the same for every item with
    the roles of queries and items swapped: two products, one ``(Q, C)`` and one
    ``(N, C)`` pass. A norm at its floor (an all-zero row) has no derivative, as with
    ``clamp_min``.
    """

    @staticmethod
    def forward(ctx: Any, query: Tensor, items: Tensor, temperature: float) -> Tensor:
        sim, q_norm, m_norm, denom = _divided_product(query, items, temperature)
        ctx.save_for_backward(query, items, q_norm, m_norm, denom, sim)
        return sim

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Any:
        query, items, q_norm, m_norm, denom, sim = ctx.saved_tensors
        g = grad / denom
        gs = grad * sim
        grad_q = grad_m = None
        # the radial part -(sum_i G_i s_i) / |q|^2, zero where the norm sat at its floor
        if ctx.needs_input_grad[0]:
            coef = gs.sum(1, keepdim=True).div_(q_norm.square())
            coef.masked_fill_(q_norm <= _NORM_EPS, 0)
            grad_q = torch.addcmul(g @ items, query, coef, value=-1.0)
        if ctx.needs_input_grad[1]:
            coef = gs.sum(0).div_(m_norm.square()).masked_fill_(m_norm <= _NORM_EPS, 0)
            grad_m = torch.addcmul(g.T @ query, items, coef.unsqueeze(1), value=-1.0)
        return grad_q, grad_m, None


# exp(sim - 1/T) of a cosine similarity is at least exp(-2/T): above this 2/T the
# softmax shifts by the row maximum instead, so that no row underflows to all zeros.
_MAX_CONSTANT_SHIFT = 60.0


def sparse_attention(
    sim: Tensor, lam: float, shift: float | Tensor, branch_free: bool = False
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Softmax, hard shrinkage and L1 renormalisation of similarities, in a few passes.

    Returns ``(w_hat, entropy, dead)``: the weights ``(Q, N)``; the entropy of every
    row, ``(Q,)``, in closed form ``log sum_i exp(s_i) - sum_i w_hat_i s_i`` (the
    log-sum over the items kept); and the ``(Q, 1)`` mask of the rows whose weights
    all fell to or below ``lam`` (None without shrinkage). Those rows fall back to
    their most similar item (weight 1, entropy 0).

    ``shift`` is subtracted before ``exp``: any value at or above each row's maximum
    similarity (it cancels). ``sim`` is not modified; every intermediate is written in
    place into one ``(Q, N)`` buffer. The shrinkage keeps ``w > lam`` (by a relative
    ``1e-5``, so that rows of equal weights ``1/N = lam`` do not depend on rounding), as
    ``hard_shrink_relu(w, lam) > 0`` does, and keeps each kept weight exactly (the
    continuous form's ``w (w - lam) / (|w - lam| + eps)`` differs from ``w`` by a
    relative ``eps / (w - lam)``, below float32 resolution for ``w - lam > 2e-5``).
    """
    e = (sim - shift).exp_()
    z = e.sum(dim=1, keepdim=True)
    w = e.div_(z)
    log_norm = z.log_()
    dead = None
    if lam > 0:
        w = F.threshold_(w, lam * _KEEP_MARGIN, 0.0)
        total = w.sum(dim=1, keepdim=True)
        dead = total == 0
        if branch_free or bool(dead.any()):
            nearest = F.one_hot(sim.argmax(dim=1), sim.shape[1]).to(w.dtype)
            w = torch.where(dead, nearest, w)
            # a dead row's log_norm is its largest similarity (minus the shift)
            log_norm = torch.where(dead, sim.amax(dim=1, keepdim=True) - shift, log_norm)
            total = torch.where(dead, torch.ones_like(total), total)
        log_norm = log_norm + total.log()  # log 1 = 0 on dead rows
        w = w.div_(total)
    entropy = (log_norm + shift).squeeze(1) - torch.linalg.vecdot(w, sim)
    return w, entropy, dead


class _SparseAttention(torch.autograd.Function):
    """:func:`sparse_attention` and the entropy of its rows, with a hand-written backward.

    With the kept set fixed, ``w_hat`` is the softmax of the similarities over the
    kept items, so ``d w_hat / d s`` is the softmax Jacobian ``diag(w) - w w^T`` and
    ``d H / d s_k = -w_k (s_k - sum_i w_i s_i)``. Only ``w_hat`` and ``s`` are saved,
    where autograd would keep every intermediate of the dozen elementwise steps.
    """

    @staticmethod
    def forward(ctx: Any, sim: Tensor, lam: float, shift: Any, branch_free: bool) -> Any:
        w, entropy, dead = sparse_attention(sim, lam, shift, branch_free)
        ctx.save_for_backward(w, sim)
        ctx.mark_non_differentiable(*(() if dead is None else (dead,)))
        return w, entropy, dead

    @staticmethod
    def backward(ctx: Any, grad_w: Tensor | None, grad_entropy: Tensor | None, _: Any) -> Any:
        w, sim = ctx.saved_tensors
        g = torch.zeros_like(w) if grad_w is None else grad_w
        if grad_entropy is not None:
            g = torch.addcmul(g, sim, grad_entropy.unsqueeze(1), value=-1.0)
        g = g - torch.linalg.vecdot(w, g).unsqueeze(1)
        return g.mul_(w), None, None, None


class Memory(nn.Module):
    r"""Learnable memory addressed by attention, with hard-shrinkage sparsity.

    For every query ``z`` (a row of a ``(B, C)`` batch, or every location of a
    ``(B, C, *S)`` feature map, as the official code does):

    1. similarities ``s_i = sim(z, m_i)`` to the ``N`` items ``m_i`` (rows of ``M``);
    2. ``w = softmax(s)``;
    3. if ``shrink_threshold > 0``: ``w_hat = hard_shrink_relu(w, lam)`` followed by
       L1 renormalisation ``w_hat / ||w_hat||_1``;
    4. ``z_hat = w_hat @ M``.

    Parameters
    ----------
    num_items : int
        ``N``, the number of memory items.
    dim : int
        ``C``, the size of each item (the encoder's channel/latent size).
    shrink_threshold : float or None, default=None
        ``lam``. ``None`` means ``1 / num_items``, the low end of the paper's
        recommended interval ``[1/N, 3/N]``; ``0`` disables shrinkage (the
        "MemAE-nonSpar" variant).
    addressing : {"cosine", "dot"}, default="cosine"
        ``"cosine"`` is the paper's Eq. (5); ``"dot"`` is the plain inner product the
        official code (donggong1/memae-anomaly-detection) uses.
    flatten : bool, default=False
        For feature-map input ``(B, C, *S)``: address the whole flattened map as one
        query of size ``dim = C * prod(S)`` instead of every location separately.
    temperature : float, default=1.0
        Cosine similarities are divided by this before the softmax; 1 is the paper's
        plain cosine (Eq. 5). Cosine lies in ``[-1, 1]``, so with ``T = 1`` no weight
        can exceed ``e / (e + (N - 1) / e)`` (0.069 for ``N = 100``): addressing is
        never very sparse, and with ``lam`` well above ``1/N`` shrinkage can zero
        every weight of a row at initialisation (see Notes). A lower temperature
        (e.g. 0.1) sharpens the weights. Ignored for ``"dot"``.

    Notes
    -----
    **Degenerate rows.** If every weight of a row falls below ``lam`` (possible
    when ``lam > 1/N``), shrinkage would give an all-zero row; the official code then
    decodes from the zero vector and no gradient reaches the memory for that query.
    Here such a row falls back to its single most similar item (weight 1), so the
    read-out is always a convex combination of memory items, never NaN, and the
    nearest item still receives a gradient. ``last_dead_fraction`` records the
    share of such rows in the latest forward pass.

    **Gradient of the shrinkage.** Eq. (7)'s continuous form is there to make the
    shrinkage differentiable: its derivative is 1 on kept weights and 0 below
    ``lam``. With the paper's (and the official code's) ``eps = 1e-12``, a weight
    within about ``1e-9`` of ``lam`` gets an extra ``w * eps / (w - lam)^2``, which can
    be orders of magnitude larger than the rest of the gradient; with thousands of
    items per query (the video network) that happens in most batches. memae computes
    the forward pass and the gradient of the ``eps -> 0`` limit by hand
    (``_SparseAttention``): the kept weights' renormalised softmax, its exact
    Jacobian and that of the entropy, in a few passes over a ``(Q, N)`` buffer
    instead of a dozen autograd steps (issue 20; ``benchmarks/speed.py --paired``
    measures what it saves). :func:`hard_shrink_relu` is the literal formula, kept
    for reference.

    **Cosine of long items.** With more values per item than items (``dim >
    num_items``, the whole-code image memories) the cosine is the raw product divided
    by the norms afterwards, with a hand-written gradient; otherwise the query and the
    items are normalised first. Both are ``F.normalize``'s cosine (see ``_cosine``).

    Shapes
    ------
    - input: ``(B, C)`` or ``(B, C, *S)``
    - output: same as input; attention: ``(B * prod(S), N)``

    Examples
    --------
    >>> mem = Memory(num_items=50, dim=3)
    >>> out = mem(torch.randn(8, 3))
    >>> out.output.shape, out.attention.shape
    (torch.Size([8, 3]), torch.Size([8, 50]))
    """

    def __init__(
        self,
        num_items: int,
        dim: int,
        shrink_threshold: float | None = None,
        addressing: Addressing = "cosine",
        temperature: float = 1.0,
        flatten: bool = False,
    ) -> None:
        super().__init__()
        if num_items < 1 or dim < 1:
            raise ValueError(f"memory needs num_items >= 1 and dim >= 1, got {num_items}, {dim}")
        if addressing not in ("cosine", "dot"):
            raise ValueError(f"addressing must be 'cosine' or 'dot', got {addressing!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        lam = 1.0 / num_items if shrink_threshold is None else float(shrink_threshold)
        if not 0.0 <= lam < 1.0:
            raise ValueError(f"shrink_threshold must be in [0, 1), got {lam}")
        self.num_items = num_items
        self.dim = dim
        self.shrink_threshold = lam
        self.addressing = addressing
        self.temperature = temperature
        self.flatten = flatten
        self.weight = nn.Parameter(torch.empty(num_items, dim))
        self.last_dead_fraction = 0.0
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Same initialisation as the official MemModule: U(-1/sqrt(C), 1/sqrt(C)).
        bound = 1.0 / self.dim**0.5
        nn.init.uniform_(self.weight, -bound, bound)

    def extra_repr(self) -> str:
        return (
            f"num_items={self.num_items}, dim={self.dim}, "
            f"shrink_threshold={self.shrink_threshold:g}, addressing={self.addressing!r}, "
            f"temperature={self.temperature:g}, flatten={self.flatten}"
        )

    def address(self, query: Tensor) -> Tensor:
        """Addressing weights ``w_hat`` for a ``(Q, C)`` batch of queries, shape ``(Q, N)``."""
        return self._attend(query)[0]

    def _attend(self, query: Tensor) -> tuple[Tensor, Tensor]:
        """``(w_hat, entropy per row)`` for a ``(Q, C)`` batch of queries."""
        # Training uses the hand-written backwards; inference and export (ONNX,
        # torch.export) the same forward maths as plain tensor operations.
        exporting = torch.compiler.is_exporting()
        hand_grad = torch.is_grad_enabled() and not exporting
        if self.addressing == "cosine":
            sim = _cosine(query, self.weight, self.temperature, hand_grad)
            # |cosine| <= 1, so 1/T bounds every row's maximum: no reduction needed
            bound = 1.0 / self.temperature
            shift: Any = bound if 2 * bound <= _MAX_CONSTANT_SHIFT else None
        else:
            sim = query @ self.weight.T
            shift = None
        if shift is None:
            shift = sim.detach().amax(dim=1, keepdim=True)
        lam = self.shrink_threshold
        # While exporting (ONNX, torch.export) or compiling (torch.compile) the graph
        # cannot branch on data without a graph break, and on a GPU the branch would cost
        # a host sync every batch: all of them take the fallback path, which leaves rows
        # with live weights unchanged (bit for bit).
        branch_free = exporting or torch.compiler.is_compiling() or self._branch_free(sim)
        if hand_grad and sim.requires_grad:
            w, entropy, dead = _SparseAttention.apply(sim, lam, shift, branch_free)
        else:
            w, entropy, dead = sparse_attention(sim, lam, shift, branch_free)
        self.last_dead_fraction = 0.0
        if dead is not None and not exporting:  # a tensor; read (and synced) only when asked
            self._dead_fraction = dead.float().mean().detach()
        return w, entropy

    @staticmethod
    def _branch_free(w: Tensor) -> bool:
        """Whether to skip the data-dependent branch (on accelerators: no host sync)."""
        return w.device.type != "cpu"

    @property
    def last_dead_fraction(self) -> float:
        """Share of rows of the latest forward pass that fell back to their nearest item."""
        dead = self.__dict__.get("_dead_fraction")
        return 0.0 if dead is None else float(dead)

    @last_dead_fraction.setter
    def last_dead_fraction(self, value: float) -> None:
        self.__dict__["_dead_fraction"] = None if value == 0.0 else torch.tensor(float(value))

    def forward(self, z: Tensor) -> MemoryOutput:
        if self.flatten and z.dim() > 2:
            read = self(z.flatten(1))
            return MemoryOutput(read.output.reshape(z.shape), read.attention, read.entropy)
        if z.dim() < 2 or z.shape[1] != self.dim:
            raise ValueError(
                f"Memory expects input of shape (B, {self.dim}) or (B, {self.dim}, ...), "
                f"got {tuple(z.shape)}"
            )
        if z.dim() == 2:
            att, entropy = self._attend(z)
            return MemoryOutput(att @ self.weight, att, entropy)
        # Feature map: every location is its own query (channels last, then flatten).
        moved = z.movedim(1, -1)
        att, entropy = self._attend(moved.reshape(-1, self.dim))
        out = (att @ self.weight).reshape(moved.shape).movedim(-1, 1)
        return MemoryOutput(out, att, entropy)
