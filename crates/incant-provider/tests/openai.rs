//! The OpenAI-compatible provider against a real HTTP server on 127.0.0.1 that answers from
//! a script: good answers, rate limits with `Retry-After`, server errors, slow answers,
//! truncated and non-JSON bodies, and embeddings.

use incant_prompt::file::Message;
use incant_provider::{from_spec, ProviderError, Request};
use incant_testkit::http::{serve, Reply, Server};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

fn chat_answer(text: &str) -> Reply {
    Reply::Json(
        200,
        vec![],
        json!({
            "id": "x", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": text},
                "logprobs": {"content": [{"token": "a", "logprob": -0.5}, {"token": "b", "logprob": -1.5}]}}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 2000, "total_tokens": 3000}
        })
        .to_string(),
    )
}

fn config(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn request(params: Value) -> Request {
    Request {
        messages: vec![
            Message {
                role: "system".into(),
                content: "Be brief.".into(),
            },
            Message {
                role: "user".into(),
                content: "Capital of France?".into(),
            },
        ],
        chat: true,
        params: config(params),
    }
}

fn provider(id: &str, server: &Server, extra: Value) -> Box<dyn incant_provider::Provider> {
    let mut c = config(json!({"apiBaseUrl": format!("{}/v1", server.url), "apiKey": "sk-test"}));
    c.extend(config(extra));
    from_spec(id, &c, std::path::Path::new("models")).unwrap()
}

#[test]
fn chat_sends_the_messages_and_reads_output_usage_cost_and_logprobs() {
    let server = serve(vec![chat_answer("Paris.")]);
    let p = provider("openai:chat:gpt-4o-mini", &server, json!({}));
    let r = p
        .call(&request(
            json!({"temperature": 0, "maxTokens": 20, "apiKey": "ignored", "custom": 1}),
        ))
        .unwrap();
    assert_eq!(r.output, "Paris.");
    let usage = r.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (1000, 2000));
    // gpt-4o-mini list price: $0.15 / $0.60 per million tokens.
    assert!((r.cost.unwrap() - (1000.0 * 0.15 + 2000.0 * 0.6) / 1e6).abs() < 1e-12);
    assert_eq!(r.logprobs.unwrap(), vec![-0.5, -1.5]);
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert!(seen[0]
        .headers
        .contains(&("authorization".into(), "Bearer sk-test".into())));
    assert_eq!(
        seen[0].body,
        json!({"model": "gpt-4o-mini", "temperature": 0, "max_tokens": 20, "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"}]})
    );
}

#[test]
fn completion_and_configured_prices() {
    let answer = json!({"choices": [{"text": " Paris", "logprobs": {"token_logprobs": [-0.25]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2}});
    let server = serve(vec![Reply::Json(200, vec![], answer.to_string())]);
    let p = provider(
        "openai:completion:my-model",
        &server,
        json!({"inputCost": 0.001, "outputCost": 0.002}),
    );
    let mut req = request(json!({}));
    req.chat = false;
    let r = p.call(&req).unwrap();
    assert_eq!(r.output, " Paris");
    assert!((r.cost.unwrap() - 0.014).abs() < 1e-12);
    assert_eq!(r.logprobs.unwrap(), vec![-0.25]);
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen[0].path, "/v1/completions");
    assert_eq!(seen[0].body["prompt"], "Be brief.\nCapital of France?");
}

#[test]
fn rate_limits_and_server_errors_are_retried_honouring_retry_after() {
    let limited = || {
        Reply::Json(
            429,
            vec![("Retry-After", "1".into())],
            json!({"error": {"message": "Rate limit reached", "type": "requests"}}).to_string(),
        )
    };
    let unavailable = Reply::Json(503, vec![("retry-after-ms", "100".into())], "busy".into());
    let server = serve(vec![limited(), unavailable, chat_answer("ok")]);
    let p = provider("openai:chat:m", &server, json!({}));
    let start = Instant::now();
    let r = p.call(&request(json!({}))).unwrap();
    let waited = start.elapsed();
    assert_eq!(r.output, "ok");
    assert_eq!(server.seen.lock().unwrap().len(), 3);
    assert!(
        waited >= Duration::from_millis(1100),
        "honoured Retry-After: 1 s and retry-after-ms: 100, waited {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "{waited:?}");

    // When retries run out the server's message is the error.
    let server = serve(vec![limited(), limited()]);
    let p = provider("openai:chat:m", &server, json!({"maxRetries": 1}));
    let e = p.call(&request(json!({}))).unwrap_err();
    let ProviderError::Call(m) = e else {
        panic!("{e:?}")
    };
    assert!(
        m.contains("HTTP 429") && m.contains("Rate limit reached"),
        "{m}"
    );
    assert!(m.contains("after 1 retries"), "{m}");
}

#[test]
fn client_errors_fail_at_once_with_the_servers_message() {
    let server = serve(vec![Reply::Json(
        400,
        vec![],
        json!({"error": {"message": "model `nope` does not exist"}}).to_string(),
    )]);
    let p = provider("openai:chat:nope", &server, json!({}));
    let e = p.call(&request(json!({}))).unwrap_err().to_string();
    assert!(
        e.contains("HTTP 400") && e.contains("model `nope` does not exist"),
        "{e}"
    );
    assert_eq!(server.seen.lock().unwrap().len(), 1, "4xx is not retried");

    let server = serve(vec![Reply::Json(500, vec![], "<html>oops</html>".into())]);
    let p = provider("openai:chat:m", &server, json!({"maxRetries": 0}));
    let e = p.call(&request(json!({}))).unwrap_err().to_string();
    assert!(
        e.contains("HTTP 500") && e.contains("<html>oops</html>"),
        "{e}"
    );
}

#[test]
fn broken_bodies_and_timeouts_are_failed_calls() {
    let server = serve(vec![
        Reply::Json(200, vec![], "this is not json".into()),
        Reply::Truncated(r#"{"choices": [{"message": {"content": "Par"#.into()),
        Reply::Json(200, vec![], json!({"choices": []}).to_string()),
        Reply::Slow(Duration::from_millis(1500), Box::new(chat_answer("late"))),
    ]);
    let p = provider(
        "openai:chat:m",
        &server,
        json!({"maxRetries": 0, "timeoutMs": 400}),
    );
    let e = p.call(&request(json!({}))).unwrap_err().to_string();
    assert!(
        e.contains("not JSON") && e.contains("this is not json"),
        "{e}"
    );
    let e = p.call(&request(json!({}))).unwrap_err().to_string();
    assert!(
        e.contains("invalid answer") || e.contains("reading the answer"),
        "{e}"
    );
    let e = p.call(&request(json!({}))).unwrap_err().to_string();
    assert!(e.contains("has no output text"), "{e}");
    let start = Instant::now();
    let e = p.call(&request(json!({}))).unwrap_err();
    assert_eq!(e, ProviderError::Timeout(400));
    assert!(start.elapsed() < Duration::from_millis(1400));
}

#[test]
fn embeddings_come_back_in_input_order() {
    let answer = json!({"object": "list", "data": [
        {"object": "embedding", "index": 1, "embedding": [0.0, 1.0]},
        {"object": "embedding", "index": 0, "embedding": [1.0, 0.5]}],
        "usage": {"prompt_tokens": 4, "total_tokens": 4}});
    let server = serve(vec![Reply::Json(200, vec![], answer.to_string())]);
    let p = provider(
        "openai:embedding:text-embedding-3-small",
        &server,
        json!({}),
    );
    let v = p.embed(&["a", "b"]).unwrap();
    assert_eq!(v, vec![vec![1.0, 0.5], vec![0.0, 1.0]]);
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen[0].path, "/v1/embeddings");
    assert_eq!(
        seen[0].body,
        json!({"model": "text-embedding-3-small", "input": ["a", "b"]})
    );
    assert!(p.call(&request(json!({}))).is_err());
}

#[test]
fn configuration_errors_name_the_problem() {
    let err = |id: &str, c: Value| match from_spec(id, &config(c), std::path::Path::new("m")) {
        Err(ProviderError::Config(m)) => m,
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("{id} accepted"),
    };
    std::env::remove_var("INCANT_TEST_NO_SUCH_KEY");
    let m = err(
        "openai:chat:gpt-4o",
        json!({"apiKeyEnvar": "INCANT_TEST_NO_SUCH_KEY", "apiBaseUrl": "https://api.openai.com/v1"}),
    );
    assert!(m.contains("no API key: set INCANT_TEST_NO_SUCH_KEY"), "{m}");
    let m = err("openai:chat:m", json!({"apiBaseUrl": "localhost:8080"}));
    assert!(m.contains("must be an http(s) URL"), "{m}");
    let m = err("openai:speech:m", json!({"apiBaseUrl": "http://x"}));
    assert!(m.contains("unknown OpenAI endpoint `speech`"), "{m}");
    let m = err(
        "openai:chat:m",
        json!({"apiBaseUrl": "http://x", "timeoutMs": "soon"}),
    );
    assert!(m.contains("`timeoutMs` must be a whole number"), "{m}");
    let m = err(
        "openai:chat:m",
        json!({"apiBaseUrl": "http://x", "temprature": 0.2}),
    );
    assert!(
        m.contains("unknown config key `temprature` (did you mean `temperature`?)"),
        "{m}"
    );
}
