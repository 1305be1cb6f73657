"""Image support: loaders on the shared files, conv backbone, layouts, save/load, protocol."""

import gzip
import io
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

import memae
from memae import AutoEncoder, MemAE
from memae.datasets import (
    CIFAR10_CLASSES,
    ImageDataError,
    load_cifar10,
    load_image_folder,
    read_idx,
)
from memae.evaluation import anomaly_subset, one_class_aucs, one_class_labels
from memae.nn import build_backbone
from memae.nn.backbones import conv2d_backbone
from memae.preprocessing import Scaler, network_shape
from memae.validation import check_array

from .conftest import data_root

TINY = {"epochs": 2, "batch_size": 64, "random_state": 0, "validation_fraction": 0.0}


# ---------------------------------------------------------------------------- loaders
def test_mnist_from_the_shared_idx_files(mnist):
    X, y, Xt, yt = mnist
    assert X.shape == (60000, 28, 28) and Xt.shape == (10000, 28, 28)
    assert X.dtype == np.uint8 and y.dtype == np.int64
    assert np.bincount(yt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert X.max() == 255 and X.min() == 0


def test_cifar10_read_from_the_archive_in_place(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be extracted into the working directory
    try:
        X, y = load_cifar10("test", data_root())
    except memae.datasets.DataNotFoundError:
        pytest.skip("shared CIFAR-10 archive not found")
    assert X.shape == (10000, 32, 32, 3) and X.dtype == np.uint8
    assert np.bincount(y).tolist() == [1000] * 10
    assert list(tmp_path.iterdir()) == []
    assert len(CIFAR10_CLASSES) == 10


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
    good = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in good.shape)
    path = tmp_path / "x.idx3-ubyte.gz"
    path.write_bytes(gzip.compress(header + good.tobytes()))
    np.testing.assert_array_equal(read_idx(path), good)
    path.write_bytes(gzip.compress(header + good.tobytes()[:-1]))
    with pytest.raises(ImageDataError, match="truncated"):
        read_idx(path)
    path.write_bytes(gzip.compress(b"PK\x03\x04 not idx"))
    with pytest.raises(ImageDataError, match="magic"):
        read_idx(path)


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture()
def folder(tmp_path):
    rng = np.random.default_rng(0)
    images = {}
    for cls in ("cats", "dogs"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for k in range(3):
            arr = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
            (tmp_path / "imgs" / cls / f"{k}.png").write_bytes(_png(arr))
            images[(cls, k)] = arr
    (tmp_path / "imgs" / "notes.txt").write_text("ignored")
    return tmp_path / "imgs", images


def test_image_folder_directory_and_tar_give_the_same_arrays(folder, tmp_path):
    root, images = folder
    X, y, names = load_image_folder(root)
    assert names == ["cats", "dogs"] and y.tolist() == [0, 0, 0, 1, 1, 1]
    assert X.shape == (6, 6, 5, 3) and X.dtype == np.uint8
    np.testing.assert_array_equal(X[4], images[("dogs", 1)])  # PNG is lossless
    archive = tmp_path / "imgs.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="train")
    X2, y2, _ = load_image_folder(archive, subdir="train")
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    Xg, _, _ = load_image_folder(root, mode="L", size=(8, 7), classes=["dogs"])
    assert Xg.shape == (3, 7, 8)


def test_image_folder_errors_name_the_problem(folder, tmp_path):
    root, _ = folder
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(root / "cats" / "big.png")
    with pytest.raises(ImageDataError, match="differ in size"):
        load_image_folder(root)
    (root / "dogs" / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageDataError, match=r"bad\.jpg"):
        load_image_folder(root, size=(5, 6))
    with pytest.raises(ImageDataError, match="no images for classes"):
        load_image_folder(root, classes=["cats", "birds"], size=(5, 6), mode="L")
    with pytest.raises(FileNotFoundError):
        load_image_folder(tmp_path / "nowhere")


# ----------------------------------------------------------------- layout and backbone
def test_layouts_reach_the_network_channels_first():
    rng = np.random.default_rng(0)
    hwc = rng.integers(0, 256, (4, 9, 7, 3), dtype=np.uint8)
    chw = np.ascontiguousarray(hwc.transpose(0, 3, 1, 2))
    assert network_shape((9, 7, 3)) == network_shape((3, 9, 7)) == (3, 9, 7)
    assert network_shape((28, 28)) == (1, 28, 28)
    a = Scaler.fit(hwc, "image")(torch.from_numpy(hwc))
    b = Scaler.fit(chw, "image")(torch.from_numpy(chw))
    assert torch.equal(a, b) and a.shape == (4, 3, 9, 7)
    assert float(a.min()) == -1.0 and float(a.max()) == 1.0
    gray = Scaler.fit(hwc[..., 0], "image")
    x = torch.from_numpy(hwc[..., 0])
    assert gray(x).shape == (4, 1, 9, 7)
    torch.testing.assert_close(gray.inverse(gray(x)), x.float())  # back to 0-255, (B, H, W)
    with pytest.raises(ValueError, match="channel axis"):
        network_shape((3, 9, 3))


def test_uint8_images_are_not_copied_and_bad_images_are_named():
    X = np.zeros((5, 28, 28), np.uint8)
    arr, _ = check_array(X)
    assert arr is X  # no float copy of an 8-bit dataset
    bad = np.zeros((5, 28, 28), np.float32)
    bad[3, 2, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*first at row 3"):
        check_array(bad)
    with pytest.raises(ValueError, match="fitted on samples of shape"):
        check_array(X, sample_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="images"):
        check_array(np.zeros((2, 1, 3, 4, 5, 6)))


@pytest.mark.parametrize(
    ("shape", "hidden", "latent", "kernels", "code"),
    [
        ((1, 28, 28), (16, 32), 64, (1, 3, 3), (64, 4, 4)),  # the paper's MNIST network
        ((3, 32, 32), (64, 128, 128), 256, None, (256, 2, 2)),  # the CIFAR-10 preset
        ((3, 17, 23), (8,), 4, None, (4, 5, 6)),  # odd sizes mirror exactly
    ],
)
def test_conv_backbone_shapes(shape, hidden, latent, kernels, code):
    bb = conv2d_backbone(shape, hidden, latent, "relu", kernels)
    x = torch.randn(2, *shape)
    z = bb.encoder(x)
    assert tuple(z.shape[1:]) == code == bb.code_shape
    assert bb.decoder(z).shape == x.shape
    # batch norm after every layer but the decoder's last, which is a plain ConvTranspose2d
    assert isinstance(bb.decoder[-1], torch.nn.ConvTranspose2d)
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in [*bb.encoder, *bb.decoder])
    assert n_bn == 2 * (len(hidden) + 1) - 1


def test_auto_backbone_and_errors():
    assert isinstance(build_backbone("auto", (1, 28, 28), hidden_dims=(4,), latent_dim=2,
                                     activation="relu").encoder[0], torch.nn.Conv2d)  # fmt: skip
    with pytest.raises(ValueError, match="kernel_sizes needs 2"):
        conv2d_backbone((1, 8, 8), (4,), 2, "relu", (3, 3, 3))
    tiny = conv2d_backbone((1, 2, 2), (4, 4, 4), 2, "relu")  # maps shrink to 1x1, still mirror
    assert tiny.decoder(tiny.encoder(torch.zeros(2, 1, 2, 2))).shape == (2, 1, 2, 2)
    with pytest.raises(ValueError, match="conv2d"):
        conv2d_backbone((10,), (4,), 2, "relu")


def test_flat_memory_addresses_the_whole_code():
    X = np.random.default_rng(0).integers(0, 256, (64, 12, 12), dtype=np.uint8)
    kw = dict(hidden_dims=(4,), latent_dim=3, preprocessing="image", **TINY)
    loc = MemAE(memory_size=7, **kw).fit(X)
    flat = MemAE(memory_size=7, memory_layout="flat", **kw).fit(X)
    assert loc.network_.memory.weight.shape == (7, 3)
    assert flat.network_.memory.weight.shape == (7, 3 * 3 * 3)
    assert flat.decode_memory().shape == (7, 12, 12)
    with pytest.raises(ValueError, match="memory_layout"):
        MemAE(memory_layout="rows", **kw).fit(X)


def test_attention_weights_per_sample_and_location():
    """MemAE.attention: the addressing weights the decoder reads from. Each row is a
    convex combination (non-negative, sums to 1); hard shrinkage zeroes every weight it
    prunes; rebuilding the read-out from them gives the network's reconstruction."""
    X = np.random.default_rng(0).integers(0, 256, (64, 12, 12), dtype=np.uint8)
    kw = dict(hidden_dims=(4,), latent_dim=3, preprocessing="image", **TINY)
    loc = MemAE(memory_size=7, shrink_threshold=0.1, **kw).fit(X)
    flat = MemAE(memory_size=7, memory_layout="flat", **kw).fit(X)
    a_loc, a_flat = loc.attention(X[:10]), flat.attention(X[:10], batch_size=3)
    assert a_loc.shape == (10, 9, 7) and a_flat.shape == (10, 7)  # a 3 x 3 code map
    for a in (a_loc, a_flat):
        assert a.dtype == np.float32 and (a >= 0).all()
        np.testing.assert_allclose(a.sum(axis=-1), 1.0, rtol=1e-5)
    assert (a_loc == 0).any() and not ((a_loc > 0) & (a_loc < 0.1)).any()
    net = flat.network_
    with torch.inference_mode():
        read = torch.from_numpy(a_flat) @ net.memory.weight
        rebuilt = flat.scaler_.inverse(net.decoder(read.reshape(10, 3, 3, 3))).numpy()
    np.testing.assert_allclose(rebuilt, flat.reconstruct(X[:10]), atol=1e-4)
    rows = np.random.default_rng(1).random((50, 6))
    tabular = MemAE(memory_size=5, epochs=1, random_state=0).fit(rows[:, :4])
    assert tabular.attention(rows[:3, :4]).shape == (3, 5)
    with pytest.raises(ValueError, match="feature"):
        tabular.attention(rows[:3])


# ------------------------------------------------------------------- detectors on MNIST
@pytest.fixture(scope="module")
def digits(mnist):
    X, y, Xt, yt = mnist
    train = X[y == 1][:1500]
    test = np.concatenate([Xt[yt == 1][:300], Xt[yt == 0][:300]])
    return train, test, np.r_[np.zeros(300, int), np.ones(300, int)]


@pytest.mark.parametrize("cls", [AutoEncoder, MemAE])
def test_mnist_preset_separates_another_digit(cls, digits):
    train, test, labels = digits
    det = cls.from_preset("mnist", epochs=4, batch_size=64, random_state=0).fit(train)
    assert det.network_.encoder[0].kernel_size == (1, 1)
    auc = roc_auc_score(labels, det.decision_function(test))
    assert auc > 0.95, auc
    assert det.predict(test[labels == 1]).mean() > 0.8  # zeros are flagged as anomalies
    recon = det.reconstruct(test[:5])
    assert recon.shape == (5, 28, 28) and recon.dtype == np.float32
    assert np.abs(recon[:5] - test[:5]).mean() < 60  # on the 0-255 scale


def test_image_model_save_load_round_trip(tmp_path, digits):
    train, test, _ = digits
    det = MemAE.from_preset("mnist", epochs=1, batch_size=128, random_state=0).fit(train[:400])
    det.save(tmp_path / "m")
    back = memae.load(tmp_path / "m")
    assert back.sample_shape_ == (28, 28)
    np.testing.assert_array_equal(back.decision_function(test), det.decision_function(test))
    np.testing.assert_array_equal(back.decode_memory(), det.decode_memory())
    assert det.decode_memory().shape == (100, 28, 28)
    chunked = np.concatenate(list(back.iter_scores(test, chunksize=77)))
    np.testing.assert_array_equal(chunked, det.decision_function(test))
    with pytest.raises(ValueError, match="fitted on samples of shape"):
        back.decision_function(np.zeros((2, 32, 32, 3), np.uint8))


def test_image_fit_is_reproducible(digits):
    train = digits[0][:300]
    a = AutoEncoder.from_preset("mnist", **TINY).fit(train)
    b = AutoEncoder.from_preset("mnist", **TINY).fit(train)
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)


def test_colour_images_in_either_layout_give_the_same_scores():
    rng = np.random.default_rng(0)
    hwc = rng.integers(0, 256, (64, 10, 10, 3), dtype=np.uint8)
    chw = np.ascontiguousarray(hwc.transpose(0, 3, 1, 2))
    kw = dict(hidden_dims=(4,), latent_dim=3, preprocessing="image", **TINY)
    a, b = AutoEncoder(**kw).fit(hwc), AutoEncoder(**kw).fit(chw)
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)
    assert a.reconstruct(hwc[:2]).shape == (2, 10, 10, 3)
    assert b.reconstruct(chw[:2]).shape == (2, 3, 10, 10)


# ----------------------------------------------------------------------- the protocol
def test_one_class_protocol():
    y = np.repeat(np.arange(10), 100)
    labels = one_class_labels(y, 3)
    assert labels.sum() == 900 and (labels[y == 3] == 0).all()
    sub = anomaly_subset(labels, seed=0)
    assert (labels[sub] == 0).sum() == 100  # every normal kept
    assert abs(labels[sub].mean() - 0.3) < 0.01
    np.testing.assert_array_equal(sub, anomaly_subset(labels, seed=0))
    assert not np.array_equal(sub, anomaly_subset(labels, seed=1))
    aucs = one_class_aucs(labels.astype(float), y, 3, seed=0)
    assert aucs == {"auc": 1.0, "auc_30": 1.0}


def test_every_preset_value_has_a_source():
    from memae.presets import PRESETS

    for name, preset in PRESETS.items():
        sourced = {k.strip() for key in preset.sources for k in key.split(",")}
        params = set(preset.common).union(*map(set, preset.per_model.values()), preset.data)
        assert params <= sourced, (name, sorted(params - sourced))


@pytest.mark.parametrize("name", ["kdd", "mnist", "cifar10"])
def test_every_detector_reads_the_memae_presets(name):
    from memae import VAE, CompactVAE, LatentNormAE

    toll_beta = {"kdd": 10.0, "mnist": 1000.0, "cifar10": 10.0}[name]
    ae = AutoEncoder.from_preset(name)
    for cls in (LatentNormAE, VAE, CompactVAE):
        det = cls.from_preset(name)
        # the same network and budget as the AE, so a comparison isolates the method
        for key in ("hidden_dims", "latent_dim", "epochs", "batch_size", "lr", "backbone"):
            if cls is LatentNormAE and key == "lr" and name != "kdd":
                continue  # the official code's lr on the image presets (presets.py says why)
            assert getattr(det, key) == getattr(ae, key), (cls, key)
    assert LatentNormAE.from_preset(name).beta == toll_beta
    assert LatentNormAE.from_preset(name).lr == (1e-3 if name == "kdd" else 1e-4)


def test_toll_presets():
    from memae import LatentNormAE
    from memae.nn.backbones import conv2d_backbone

    det = LatentNormAE.from_preset("toll-mnist")
    assert (det.beta, det.latent_dim, det.batch_size, det.lr) == (1000.0, 128, 1000, 1e-4)
    assert det.validation_fraction == 0.0  # last iterate: no checkpoint chosen by labels
    bb = conv2d_backbone((1, 28, 28), det.hidden_dims, det.latent_dim, "relu", det.kernel_sizes)
    assert bb.code_shape == (128, 1, 1)  # z = 128 numbers, as the official Linear layer
    cifar = LatentNormAE.from_preset("toll-cifar10")
    assert (cifar.beta, cifar.latent_dim, cifar.batch_size, cifar.lr) == (10.0, 64, 50, 1e-2)
    bb = conv2d_backbone((3, 32, 32), cifar.hidden_dims, 64, "relu", cifar.kernel_sizes)
    assert bb.code_shape == (64, 1, 1)
    arr = LatentNormAE.from_preset("toll-arrhythmia")
    assert (arr.hidden_dims, arr.latent_dim, arr.beta, arr.batch_size) == (
        (256, 128),
        16,
        10.0,
        100,
    )
    # about 2000 Adam iterations: 333 epochs of 6 batches, 20 of 100, 667 of 3
    assert det.epochs * 6 == 1998 and cifar.epochs * 100 == 2000 and arr.epochs * 3 == 2001
    with pytest.raises(ValueError, match="no configuration for model"):
        AutoEncoder.from_preset("toll-mnist")


def test_scaler_is_the_two_step_formula_bit_for_bit():
    """The scaler's in-place multiply gives ``(x - offset) * scale`` exactly (tables and
    images), and leaves the caller's batch untouched."""
    from memae.preprocessing import Scaler

    rng = np.random.default_rng(0)
    X = rng.normal(3, 7, (64, 9)).astype(np.float32)
    images = rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    for data, method in ((X, "standard"), (X, "minmax"), (images, "image-standard")):
        scaler = Scaler.fit(data, method)
        batch = torch.from_numpy(data.copy())
        want = (batch.to(torch.float32) - torch.from_numpy(scaler.offset)) * torch.from_numpy(
            scaler.scale
        )
        got = scaler(batch)
        if data.ndim == 4:  # (N, H, W, C) images come out channels first
            got = got.permute(0, 2, 3, 1)
        assert torch.equal(got, want)
        np.testing.assert_array_equal(batch.numpy(), data)
