"""Delivery settings read the environment strictly: a retry schedule or an allow-list with a
typo stops start-up, naming the variable."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from gatehouse.env import env_int_list, env_networks

VAR = "GATEHOUSE_TEST_SETTING"


def test_a_seconds_list_reads_whole_numbers(monkeypatch):
    monkeypatch.delenv(VAR, raising=False)
    assert env_int_list(VAR, default=[5, 300]) == [5, 300]
    monkeypatch.setenv(VAR, " 1, 2 ,3 ")
    assert env_int_list(VAR, default=[5]) == [1, 2, 3]


@pytest.mark.parametrize("value", ["5,x", "5,-1", "1.5", ","])
def test_a_seconds_list_refuses_what_is_no_schedule(monkeypatch, value):
    monkeypatch.setenv(VAR, value)
    with pytest.raises(ImproperlyConfigured, match=VAR):
        env_int_list(VAR, default=[5])


def test_networks_read_cidrs_and_refuse_anything_else(monkeypatch):
    monkeypatch.delenv(VAR, raising=False)
    assert env_networks(VAR, default=[]) == []
    monkeypatch.setenv(VAR, "127.0.0.1/32, ::1/128,10.0.0.0/8")
    assert env_networks(VAR, default=[]) == ["127.0.0.1/32", "::1/128", "10.0.0.0/8"]
    monkeypatch.setenv(VAR, "127.0.0.1/32,localhost")
    with pytest.raises(ImproperlyConfigured, match=f"{VAR}='localhost'"):
        env_networks(VAR, default=[])


def test_the_delivery_defaults(settings):
    assert settings.GATEHOUSE_WEBHOOK_TIMEOUT == 15
    assert settings.GATEHOUSE_WEBHOOK_RETRY_SCHEDULE == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert settings.GATEHOUSE_WEBHOOK_DISABLE_AFTER_DAYS == 5
    assert settings.GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS == []
    assert settings.GATEHOUSE_WEBHOOK_ALLOW_HTTP is False
    sweep = settings.CELERY_BEAT_SCHEDULE["sweep-deliveries"]
    assert sweep == {"task": "events.tasks.sweep_deliveries", "schedule": 30.0}
