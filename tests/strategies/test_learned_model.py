import hashlib
import pickle

import pytest

from alerts.models import Alert
from strategies import services
from strategies.models import ModelArtifact, Signal
from strategies.services import model_load, model_train, strategy_run

from .conftest import CLOSE


def test_learned_model_trains_on_paper_history_into_a_versioned_artifact(paper, learned):
    artifact = model_train(strategy=learned, train_end=CLOSE)
    assert artifact.train_end == CLOSE
    assert artifact.train_start == CLOSE - 300 * learned.timeframe_delta
    assert artifact.version.startswith("learned-")
    assert artifact.sha256 == hashlib.sha256(bytes(artifact.blob)).hexdigest()
    assert artifact.metrics["examples"] >= 500  # two markets x ~300 candles
    model = model_load(artifact)
    assert set(model.estimator.classes_) <= {-1, 0, 1}

    # Same code, window and params: the same version, not a second artifact.
    assert model_train(strategy=learned, train_end=CLOSE).pk == artifact.pk
    # A later window is a new version.
    later = model_train(strategy=learned, train_end=CLOSE + 7 * 6 * learned.timeframe_delta)
    assert later.version != artifact.version
    assert ModelArtifact.objects.filter(strategy=learned).count() == 2


def test_learned_signals_name_the_exact_model_that_made_them(paper, learned):
    artifact = model_train(strategy=learned, train_end=CLOSE)
    outcome = strategy_run(strategy=learned, candle_close=CLOSE + learned.timeframe_delta)
    assert outcome.status == "succeeded", outcome.error
    versions = set(Signal.objects.filter(strategy=learned).values_list("model_version", flat=True))
    assert versions == {artifact.version}


class _Payload:
    """What an attacker with write access to the database would store: unpickling it runs code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_an_artifact_changed_in_the_database_is_refused_unloaded_and_staff_are_told(paper, learned, staff, tmp_path):
    artifact = model_train(strategy=learned, train_end=CLOSE)
    services._model_cache.clear()
    marker = tmp_path / "ran"
    evil = pickle.dumps(_Payload(str(marker)))
    # The attacker recomputes the digest stored beside the bytes; the signature's key is not in the database.
    ModelArtifact.objects.filter(pk=artifact.pk).update(blob=evil, sha256=hashlib.sha256(evil).hexdigest(), size=len(evil))
    artifact.refresh_from_db()
    with pytest.raises(services.ArtifactRefused, match="signature does not match"):
        model_load(artifact)
    assert not marker.exists()  # never unpickled
    [alert] = Alert.objects.filter(user=staff, title=f"Model artifact refused: {artifact.version}")
    assert alert.severity == "critical"
    # A strategy run on it fails saying why, and signs nothing.
    outcome = strategy_run(strategy=learned, candle_close=CLOSE + learned.timeframe_delta)
    assert outcome.status == "failed" and "was refused" in outcome.error
    assert not Signal.objects.filter(strategy=learned).exists()


def test_an_artifact_signed_under_the_previous_encryption_key_still_loads(paper, learned, settings):
    artifact = model_train(strategy=learned, train_end=CLOSE)
    services._model_cache.clear()
    settings.ONECLICK_ENCRYPTION_KEY_PREVIOUS = [settings.ONECLICK_ENCRYPTION_KEY]
    settings.ONECLICK_ENCRYPTION_KEY = "a-new-encryption-key-after-rotation"
    assert model_load(artifact) is not None
    settings.ONECLICK_ENCRYPTION_KEY_PREVIOUS = []
    services._model_cache.clear()
    with pytest.raises(services.ArtifactRefused):
        model_load(artifact)
