"""The restore's index-build memory fits the target container (runbook memory table)."""

import pytest

from ansible_collections.yemma.dbsplit.plugins.module_utils.restore import MIB, maintenance_work_mem


def test_postgres_logs_of_the_runbook_gets_a_budget_that_fits_150_mb():
    # 150 MB limit, shared_buffers 64 MB, 2 jobs: the server default (64 MB x 2) was OOM-killed.
    per_job = maintenance_work_mem(150 * MIB, 64 * MIB, 2)
    assert 4 <= per_job <= 16
    assert 64 * MIB + 2 * per_job * MIB + 3 * 16 * MIB <= 150 * MIB


def test_no_limit_uses_a_generous_budget():
    assert maintenance_work_mem(0, 128 * MIB, 2) == 256


def test_large_containers_are_capped_at_1_gb():
    assert maintenance_work_mem(64 * 1024 * MIB, 128 * MIB, 2) == 1024


def test_a_limit_too_small_for_the_jobs_is_a_clear_error():
    with pytest.raises(ValueError, match="lower dbsplit_restore_jobs or raise the container's mem_limit"):
        maintenance_work_mem(96 * MIB, 64 * MIB, 4)
