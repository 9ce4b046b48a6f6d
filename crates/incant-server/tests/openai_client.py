"""Drives a running `incant serve` with the official `openai` package.

Usage: python openai_client.py BASE_URL API_KEY

Checks a chat completion by prompt name, a streamed one, n=2, a completion, the models
list and an error case (an unknown prompt and a wrong input type), printing one line per
check; exits non-zero on the first failure.
"""

import sys

import openai


def main() -> int:
    base_url, key = sys.argv[1], sys.argv[2]
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=120)

    r = client.chat.completions.create(
        model="capital@1.0.0",
        messages=[{"role": "user", "content": "France"}],
    )
    text = r.choices[0].message.content
    assert "Paris" in text, text
    assert r.usage.total_tokens > 0, r.usage
    print("chat by prompt name:", repr(text))

    pieces = []
    stream = client.chat.completions.create(
        model="capital",
        messages=[{"role": "user", "content": "Japan"}],
        stream=True,
    )
    finish = None
    for chunk in stream:
        for c in chunk.choices:
            if c.delta.content:
                pieces.append(c.delta.content)
            finish = c.finish_reason or finish
    streamed = "".join(pieces)
    assert "Tokyo" in streamed, streamed
    assert finish in ("stop", "length"), finish
    print("streamed:", repr(streamed), "in", len(pieces), "pieces")

    r = client.chat.completions.create(
        model="capital@1.0.0",
        messages=[{"role": "user", "content": "Italy"}],
        n=2,
        temperature=0.9,
        seed=11,
        max_tokens=8,
    )
    assert len(r.choices) == 2, r
    assert [c.index for c in r.choices] == [0, 1]
    print("n=2:", [c.message.content for c in r.choices])

    r = client.completions.create(
        model="complete", prompt="Roses are red,", suffix="", max_tokens=6, stop=["\n"]
    )
    assert isinstance(r.choices[0].text, str)
    print("completion:", repr(r.choices[0].text))

    ids = [m.id for m in client.models.list()]
    assert "capital" in ids and "capital@1.1.0" in ids, ids
    print("models:", ids)

    try:
        client.chat.completions.create(
            model="no-such-prompt", messages=[{"role": "user", "content": "x"}]
        )
        raise AssertionError("an unknown prompt was accepted")
    except openai.NotFoundError as e:
        assert e.status_code == 404
        assert "unknown prompt" in e.message, e.message
        print("unknown prompt:", e.status_code, e.message)

    try:
        client.chat.completions.create(
            model="capital", messages=[{"role": "user", "content": "x"}], n=100
        )
        raise AssertionError("n=100 was accepted")
    except openai.BadRequestError as e:
        assert e.body["param"] == "n", e.body
        print("bad n:", e.status_code, e.body["message"])

    bad = openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0)
    try:
        bad.models.list()
        raise AssertionError("a wrong key was accepted")
    except openai.AuthenticationError as e:
        print("wrong key:", e.status_code)

    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
