"""Each qcluster's label is recorded on the tasks it runs; all of them share one queue."""

from django_q.signals import pre_execute


def test_a_labelled_cluster_records_its_label_after_the_queue_name(settings):
    settings.Q_CLUSTER_LABEL = "worker-2.example.net"
    task = {"cluster": "oneclick", "name": "bot-1-signal-1"}
    pre_execute.send(sender="django_q", func=None, task=task)
    assert task["cluster"] == "oneclick/worker-2.example.net"


def test_without_a_label_the_queue_name_is_kept(settings):
    settings.Q_CLUSTER_LABEL = ""
    task = {"cluster": "oneclick", "name": "bot-1-signal-1"}
    pre_execute.send(sender="django_q", func=None, task=task)
    assert task["cluster"] == "oneclick"
