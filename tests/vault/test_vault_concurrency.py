# -*- coding: utf-8 -*-
# Copyright: m365.cba contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Two runs of the setup for one tenant at once, with the certificate in a real OpenBao server, both
rotating the certificate: the first is held still right after it restored the certificate, the second
runs to the end (its new certificate in the store and on the application), then the first goes on.

The first run's store write is a check-and-set on the version it restored, so it fails there, saying
that the secret was changed by someone else, before it uploads anything: the store and the application
keep the second run's certificate, and the next run changes nothing.

Both runs make their private directory in the same place: the second, which removes the directories
of killed runs there, leaves the first one's alone, as its run goes on.
"""

from __future__ import annotations

import time

import pytest
from m365emu import Emulator

from vault_support import (RESTORE_TASK, STORE_TASK, VAULT_VARS, key_thumbprints, make_fleet, pause_env, secret_path,
                           stored_certificate, vault_env, writes)

TENANT = "race"
ROTATE = {"m365_cba_certificate_renew_before_days": 400, "m365_cba_certificate_valid_days": 401}


def _wait_for(path, launched, timeout=300):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert launched.poll() is None, "the held run ended before it was held"
        assert time.monotonic() < deadline, f"the run was not held within {timeout} s"
        time.sleep(0.1)


def _thumbprint(data):
    return stored_certificate(data)[0]


@pytest.fixture(scope="module")
def race(bao, store_token, collection_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("vault-concurrency")
    with Emulator(str(workdir / "emulator"), seed=[{"name": TENANT}]) as emu:
        fleet = make_fleet(emu, collection_dir, workdir, forks=1)
        env = vault_env(bao, store_token)
        scratch = workdir / "scratch"
        scratch.mkdir(mode=0o700)
        hosts = {TENANT: dict(VAULT_VARS, m365_cba_vault_tmpdir=str(scratch))}
        rotate = {TENANT: dict(hosts[TENANT], **ROTATE)}
        steps = {}

        setup = fleet.run("setup", [TENANT], host_vars=hosts, env=env)
        assert setup.rc == 0, setup.describe()
        steps["setup"] = {"app": key_thumbprints(emu, TENANT), "store": bao.read(secret_path(TENANT))}

        gate = workdir / "gate"
        first = fleet.launch("first", [TENANT], host_vars=rotate, env=dict(env, **pause_env(fleet, TENANT, RESTORE_TASK, gate)))
        try:
            _wait_for(workdir / "gate.paused", first)
            held = sorted(p.name for p in scratch.iterdir())
            second = fleet.run("second", [TENANT], host_vars=rotate, env=env)
            steps["second"] = {"run": second, "app": key_thumbprints(emu, TENANT), "store": bao.read(secret_path(TENANT)),
                               "version": bao.metadata(secret_path(TENANT))["current_version"], "held": held,
                               "left": sorted(p.name for p in scratch.iterdir())}
            emu.reset_requests()
        finally:
            gate.touch()
        outcome = first.wait()
        steps["first"] = {"run": outcome, "app": key_thumbprints(emu, TENANT), "store": bao.read(secret_path(TENANT)),
                          "version": bao.metadata(secret_path(TENANT))["current_version"], "writes": writes(emu, TENANT),
                          "left": sorted(p.name for p in scratch.iterdir())}

        again = fleet.run("again", [TENANT], host_vars=hosts, env=env)
        steps["again"] = {"run": again, "app": key_thumbprints(emu, TENANT), "store": bao.read(secret_path(TENANT))}
        yield steps


def test_the_run_that_writes_second_fails_cleanly_before_uploading(race):
    second = race["second"]
    assert second["run"].rc == 0, second["run"].describe()
    rotated = _thumbprint(second["store"])
    assert [rotated] != race["setup"]["app"], "the second run did not rotate"
    assert second["app"] == [rotated]

    first = race["first"]
    run = first["run"]
    assert run.rc != 0 and run.recap[TENANT]["failed"] == 1, run.describe()
    failed = [r for r in run.host_results(TENANT) if r["status"] == "failed"]
    assert [r["task"] for r in failed] == [f"m365.cba.setup : {STORE_TASK}"], failed
    message = failed[0]["msg"]
    assert "the secret was changed by someone else since this run read it (version 1 then, 2 now)" in message, message
    assert f"secret secret/{secret_path(TENANT)}" in message, message
    # Nothing of the first run reached the application or the store.
    assert first["writes"] == [], first["writes"]
    assert first["app"] == second["app"]
    assert first["store"] == second["store"] and first["version"] == second["version"] == 2


def test_the_next_run_changes_nothing(race):
    again = race["again"]
    assert again["run"].rc == 0 and again["run"].recap[TENANT]["changed"] == 0, again["run"].describe()
    assert again["store"] == race["second"]["store"]
    assert again["app"] == race["second"]["app"]


def test_the_private_directory_of_a_run_going_on_is_left_alone(race):
    held = race["second"]["held"]
    assert len(held) == 1, held
    # The second run removed its own directory, and not the held run's.
    assert race["second"]["left"] == held
    assert race["first"]["left"] == []
