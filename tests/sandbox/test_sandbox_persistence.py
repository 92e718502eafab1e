from __future__ import annotations

import time

from sandbox.testing import Sandbox, SandboxProcess


def test_restart_keeps_tokens_engagements_and_balances(tmp_path):
    state_file = tmp_path / "state.json"
    wallet = "0x" + "d4" * 20
    with SandboxProcess(state_file=state_file, log_file=tmp_path / "log") as first:
        handle = Sandbox(first.url)
        tokens = handle.connect("reader")
        reader_id = handle.account("reader")["id"]
        tweet = handle.create_tweet("Persisted campaign")
        handle.set_plan("self-serve")
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        handle.http.post(
            f"{handle.api_base}/users/{reader_id}/retweets",
            json={"tweet_id": tweet["id"]},
            headers=auth,
        )
        handle.http.post(
            f"{handle.minter_url}/mint",
            json={"walletAddress": wallet, "amount": 40},
            headers={
                "Authorization": f"Bearer {handle.minter_secret}",
                "Idempotency-Key": "reward-1",
            },
        )
        handle.close()
    assert state_file.exists()

    with SandboxProcess(state_file=state_file, log_file=tmp_path / "log") as second:
        handle = Sandbox(second.url)
        me = handle.http.get(f"{handle.api_base}/users/me", headers=auth)
        assert me.status_code == 200
        duplicate = handle.http.post(
            f"{handle.api_base}/users/{reader_id}/retweets",
            json={"tweet_id": tweet["id"]},
            headers=auth,
        )
        assert duplicate.status_code == 400
        renewed = handle.http.post(
            handle.token_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
            },
            auth=(handle.client_id, handle.client_secret),
        )
        assert renewed.status_code == 200
        minter_auth = {"Authorization": f"Bearer {handle.minter_secret}"}
        balance = handle.http.get(
            f"{handle.minter_url}/balance/{wallet}", headers=minter_auth
        ).json()
        assert balance["balance"] == "40.0"
        replay = handle.http.post(
            f"{handle.minter_url}/mint",
            json={"walletAddress": wallet, "amount": 40},
            headers={**minter_auth, "Idempotency-Key": "reward-1"},
        )
        assert replay.headers["idempotent-replayed"] == "true"
        assert len(handle.mints()) == 1
        assert handle.requests()["total_requests"] >= 4
        # Settings come from the command line again, not from the last run.
        assert handle.state()["config"]["plan"] == "enterprise"

        handle.reset()
        time.sleep(0.7)
        assert not state_file.exists()
        handle.close()


def test_a_damaged_state_file_is_set_aside(tmp_path):
    state_file = tmp_path / "state.json"
    state_file.write_text("{not json")
    with SandboxProcess(state_file=state_file, log_file=tmp_path / "log") as process:
        handle = Sandbox(process.url)
        # Started afresh, with the seeded accounts.
        assert handle.account("reader")["username"] == "danareadscrypto"
        handle.close()
    assert (tmp_path / "state.json.damaged").read_text() == "{not json"


def test_changes_are_saved_soon_even_without_a_clean_shutdown(tmp_path):
    state_file = tmp_path / "state.json"
    process = SandboxProcess(state_file=state_file, log_file=tmp_path / "log")
    with process:
        handle = Sandbox(process.url)
        tweet = handle.create_tweet("Saved within the debounce delay")
        time.sleep(0.8)
        process.kill()
        handle.close()
    with SandboxProcess(state_file=state_file, log_file=tmp_path / "log") as again:
        handle = Sandbox(again.url)
        ids = {t["id"] for t in handle.http.get("/_control/tweets").json()}
        assert tweet["id"] in ids
        handle.close()
