"""API calls from inside a browser page, with its session cookie and CSRF header (browser tests' set-up)."""

from __future__ import annotations

from typing import Any


def api_call(tab: Any, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """One API call with the page's session and CSRF header; returns (status, JSON answer)."""
    answer = tab.evaluate(
        """async ([method, url, body]) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const options = {method: method, credentials: 'same-origin',
                headers: {'Accept': 'application/json', 'X-CSRF-Token': token}};
            if (body !== null) {
                options.headers['Content-Type'] = 'application/json';
                options.body = JSON.stringify(body);
            }
            const r = await fetch(url, options);
            return [r.status, await r.json().catch(() => null)];
        }""",
        [method, url, body],
    )
    return answer[0], answer[1]
