"""Stripe-Signature headers built independently of Tollbooth, and Stripe's own verdict on each.

Each case is a webhook body and a header made with Python's hmac exactly as Stripe's
documentation describes ("Verify signatures manually": HMAC-SHA256 keyed with the endpoint's
signing secret over "{t}.{raw body}", hex-encoded, sent as "t=...,v1=..."), some of them broken
on purpose. Each is then given to Stripe's official library, stripe.Webhook.construct_event, with
its default tolerance of 300 seconds: "accepted" is that library's verdict.

Usage: stripe_signatures.py SECRET
Prints {"now": UNIX_SECONDS, "cases": [{"name", "body", "header", "accepted", "error"}]}.
"""

import hashlib
import hmac
import json
import sys
import time

import stripe


def sign(secret, timestamp, body):
    message = f"{timestamp}.{body}".encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def event(number, description="a webhook"):
    return json.dumps({
        "id": f"evt_signature_case_{number:02d}", "object": "event", "api_version": "2026-07-29.dahlia",
        "created": int(time.time()), "livemode": False, "pending_webhooks": 1, "type": "customer.updated",
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": {"id": f"cus_signature{number:02d}", "object": "customer", "description": description}},
    }, separators=(",", ":"), ensure_ascii=False)


def cases(secret, now):
    """(name, body sent, header sent) for each case."""
    made = []

    def add(name, build, description="a webhook"):
        body = event(len(made) + 1, description)
        sent, header = build(body)
        made.append((name, sent, header))

    add("signed now", lambda b: (b, f"t={now},v1={sign(secret, now, b)}"))
    add("290 s old", lambda b: (b, f"t={now - 290},v1={sign(secret, now - 290, b)}"))
    add("310 s old", lambda b: (b, f"t={now - 310},v1={sign(secret, now - 310, b)}"))
    add("an hour old", lambda b: (b, f"t={now - 3600},v1={sign(secret, now - 3600, b)}"))
    add("60 s in the future", lambda b: (b, f"t={now + 60},v1={sign(secret, now + 60, b)}"))
    add("a wrong secret", lambda b: (b, f"t={now},v1={sign('whsec_' + 'x' * 32, now, b)}"))
    add("the secret without its whsec_ prefix", lambda b: (b, f"t={now},v1={sign(secret[len('whsec_'):], now, b)}"))
    add("a tampered body", lambda b: (b.replace("a webhook", "a webhooK"), f"t={now},v1={sign(secret, now, b)}"))
    add("the body re-serialized", lambda b: (json.dumps(json.loads(b), indent=2), f"t={now},v1={sign(secret, now, b)}"))
    add("a wrong then a right v1", lambda b: (b, f"t={now},v1={sign(secret, now, b + ' ')},v1={sign(secret, now, b)}"))
    add("v0 and v1", lambda b: (b, f"t={now},v0={'0' * 64},v1={sign(secret, now, b)}"))
    add("only a v0 with the right code", lambda b: (b, f"t={now},v0={sign(secret, now, b)}"))
    add("a v1 signed for another t", lambda b: (b, f"t={now},v1={sign(secret, now - 1, b)}"))
    add("the v1 in capitals", lambda b: (b, f"t={now},v1={sign(secret, now, b).upper()}"))
    add("the v1 cut short", lambda b: (b, f"t={now},v1={sign(secret, now, b)[:63]}"))
    add("a space after the comma", lambda b: (b, f"t={now}, v1={sign(secret, now, b)}"))
    add("no t", lambda b: (b, f"v1={sign(secret, now, b)}"))
    add("no v1", lambda b: (b, f"t={now}"))
    add("t not a number", lambda b: (b, f"t=now,v1={sign(secret, now, b)}"))
    add("two t, the first signed", lambda b: (b, f"t={now},t={now - 5},v1={sign(secret, now, b)}"))
    add("two t, the second signed", lambda b: (b, f"t={now},t={now - 5},v1={sign(secret, now - 5, b)}"))
    add("an empty header", lambda b: (b, ""))
    add("no header", lambda b: (b, None))
    add("a body with accents and emoji", lambda b: (b, f"t={now},v1={sign(secret, now, b)}"), "Zürich café ☕ 𝄞")
    return made


def main():
    secret = sys.argv[1]
    now = int(time.time())
    out = []
    for name, body, header in cases(secret, now):
        try:
            stripe.Webhook.construct_event(body, header, secret)
            accepted, error = True, None
        except stripe.SignatureVerificationError as failure:
            accepted, error = False, str(failure.user_message or failure)
        out.append({"name": name, "body": body, "header": header, "accepted": accepted, "error": error})
    json.dump({"now": now, "cases": out}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
