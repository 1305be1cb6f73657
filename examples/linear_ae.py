"""A detector of your own, in one file: a linear autoencoder (PCA-like) on memae's API.

Subclassing :class:`memae.BaseDetector` registers the class; after that it trains
with memae's trainer (validation split, early stopping, checkpoints, seeding), saves
to config JSON + safetensors, loads with :func:`memae.load` once this module is
imported, and runs from the CLI:

    memae fit data.csv --model linear_ae:LinearAE --out model   # from this folder
    memae score model data.csv --import linear_ae
"""

from __future__ import annotations

from torch import Tensor, nn

from memae import BaseDetector


class LinearAE(BaseDetector, model_key="linear-ae"):
    """Reconstruction error of a linear encoder/decoder pair with ``latent_dim`` units."""

    def __init__(
        self,
        *,
        latent_dim: int = 2,
        epochs: int = 200,
        lr: float = 1e-2,
        contamination: float = 0.1,
        random_state: int | None = None,
    ) -> None:
        # Parameters only (scikit-learn); the others keep BaseDetector's defaults.
        super().__init__(
            latent_dim=latent_dim,
            epochs=epochs,
            lr=lr,
            contamination=contamination,
            random_state=random_state,
        )

    def _build_network(self, sample_shape: tuple[int, ...]) -> nn.Module:
        d = sample_shape[0]  # tabular rows: (n_features,)
        return nn.Sequential(nn.Linear(d, self.latent_dim), nn.Linear(self.latent_dim, d))

    def _loss(self, model: nn.Module, batch: Tensor) -> dict[str, Tensor]:
        loss = self._score_batch(model, batch).mean()
        return {"loss": loss}

    def _score_batch(self, model: nn.Module, batch: Tensor) -> Tensor:
        return (model(batch) - batch).pow(2).sum(dim=1)
