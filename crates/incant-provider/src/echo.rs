//! `echo`: returns the prompt itself. For testing suites and assertions without a model.

use crate::{Provider, ProviderError, Request, Response};

/// The echo provider.
pub struct Echo;

impl Provider for Echo {
    fn id(&self) -> &str {
        "echo"
    }

    fn call(&self, req: &Request) -> Result<Response, ProviderError> {
        Ok(Response {
            output: req.text(),
            usage: None,
            cost: Some(0.0),
            logprobs: None,
        })
    }
}
