import hashlib

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
