//! A streamed chat completion (`stream: true`), read as it arrives: Server-Sent Events whose
//! `data:` lines are `chat.completion.chunk` objects, ended by `data: [DONE]`. Text comes in
//! `delta.content` pieces, each tool call in pieces keyed by its `index` (id and name first,
//! the arguments in fragments), the finish reason in the last choice chunk, and the usage (asked
//! for with `stream_options.include_usage`) in a last chunk without choices.
//!
//! Parsed by hand over serde: the SSE framing is a few lines, and the chunk types are as
//! tolerant as the non-streamed ones (`model`), for the same servers.

use serde::Deserialize;

use crate::model::{Completion, FunctionCall, ModelError, ToolCall, Usage};

#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<CallDelta>>,
}

#[derive(Debug, Deserialize)]
struct CallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Debug, Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// One streamed completion being read.
#[derive(Debug)]
pub struct ChunkStream {
    /// Bytes not yet framed into a whole event.
    pending: Vec<u8>,
    read: usize,
    max: usize,
    text: String,
    calls: Vec<PartialCall>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    done: bool,
}

impl ChunkStream {
    /// A stream refused (`BadResponse`) once it passes `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            pending: Vec::new(),
            read: 0,
            max,
            text: String::new(),
            calls: Vec::new(),
            finish_reason: None,
            usage: None,
            done: false,
        }
    }

    /// Takes the next bytes, as they arrived (an event may be split anywhere); returns the
    /// text they completed, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<String, ModelError> {
        self.read = self.read.saturating_add(bytes.len());
        if self.read > self.max {
            return Err(ModelError::BadResponse);
        }
        self.pending.extend_from_slice(bytes);
        let mut text = String::new();
        while let Some((end, skip)) = event_end(&self.pending) {
            let event: Vec<u8> = self.pending.drain(..end + skip).take(end).collect();
            let event = std::str::from_utf8(&event).map_err(|_| ModelError::BadResponse)?;
            for line in event.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    text.push_str(&self.data(data.trim())?);
                }
            }
        }
        Ok(text)
    }

    /// One `data:` payload; its text.
    fn data(&mut self, data: &str) -> Result<String, ModelError> {
        if data == "[DONE]" {
            self.done = true;
            return Ok(String::new());
        }
        if self.done {
            return Err(ModelError::BadResponse);
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|_| ModelError::BadResponse)?;
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        // The first choice only, as for a non-streamed completion.
        let Some(choice) = chunk.choices.into_iter().next() else {
            return Ok(String::new());
        };
        if choice.finish_reason.is_some() {
            self.finish_reason = choice.finish_reason;
        }
        let delta = choice.delta.unwrap_or_default();
        for call in delta.tool_calls.unwrap_or_default() {
            let i = match call.index {
                Some(i) => i,
                // Without an index, an id starts a new call; anything else continues the last.
                None if call.id.is_some() || self.calls.is_empty() => self.calls.len(),
                None => self.calls.len() - 1,
            };
            // Indexes count up from 0; a gap would be a call never described.
            if i > self.calls.len() {
                return Err(ModelError::BadResponse);
            }
            if i == self.calls.len() {
                self.calls.push(PartialCall::default());
            }
            let partial = &mut self.calls[i];
            if let Some(id) = call.id {
                partial.id = id;
            }
            if let Some(f) = call.function {
                partial.name.push_str(f.name.as_deref().unwrap_or_default());
                partial
                    .arguments
                    .push_str(f.arguments.as_deref().unwrap_or_default());
            }
        }
        let text = delta.content.unwrap_or_default();
        self.text.push_str(&text);
        Ok(text)
    }

    /// The whole completion, once the stream has ended. A stream that stopped before its end
    /// (no `[DONE]` and no finish reason) is a failed call, retried like a dropped connection.
    pub fn finish(mut self) -> Result<Completion, ModelError> {
        if !self.pending.is_empty() {
            // A last event without its blank line.
            self.push(b"\n\n")?;
        }
        if !self.done && self.finish_reason.is_none() {
            return Err(ModelError::Unavailable { status: None });
        }
        let mut tool_calls = Vec::with_capacity(self.calls.len());
        for (i, call) in self.calls.into_iter().enumerate() {
            if call.name.is_empty() {
                return Err(ModelError::BadResponse);
            }
            tool_calls.push(ToolCall {
                id: if call.id.is_empty() {
                    format!("call_{i}")
                } else {
                    call.id
                },
                kind: "function".into(),
                function: FunctionCall {
                    name: call.name,
                    arguments: call.arguments,
                },
            });
        }
        Ok(Completion {
            text: Some(self.text).filter(|t| !t.is_empty()),
            tool_calls,
            finish_reason: self.finish_reason,
            usage: self.usage,
        })
    }
}

/// Where the first whole event in `buf` ends, and the length of the blank line after it.
fn event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Opening \"}}]}\n\n",
        ": a comment line\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hours: 8–18.\"}}]}\r\n\r\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"clinic_config\",\"arguments\":\"\"}}]}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":\"}}]}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":7,\"total_tokens\":19}}\n\n",
        "data: [DONE]\n\n",
    );

    fn read(parts: &[&[u8]]) -> Result<(String, Completion), ModelError> {
        let mut stream = ChunkStream::new(1 << 20);
        let mut text = String::new();
        for part in parts {
            text.push_str(&stream.push(part)?);
        }
        Ok((text, stream.finish()?))
    }

    #[test]
    fn a_stream_split_anywhere_reads_as_the_same_completion() {
        let whole = read(&[STREAM.as_bytes()]).unwrap();
        assert_eq!(whole.0, "Opening hours: 8–18.");
        let c = &whole.1;
        assert_eq!(c.text.as_deref(), Some("Opening hours: 8–18."));
        assert_eq!(c.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(c.tool_calls.len(), 1);
        assert_eq!(c.tool_calls[0].id, "c1");
        assert_eq!(c.tool_calls[0].function.name, "clinic_config");
        assert_eq!(c.tool_calls[0].function.arguments, r#"{"a":1}"#);
        assert_eq!(
            c.usage,
            Some(Usage {
                prompt_tokens: 12,
                completion_tokens: 7
            })
        );
        let bytes = STREAM.as_bytes();
        for cut in 1..bytes.len() {
            let split = read(&[&bytes[..cut], &bytes[cut..]]).unwrap();
            assert_eq!(split, whole, "split at byte {cut}");
        }
    }

    #[test]
    fn a_cut_stream_is_a_failed_call_and_garbage_is_not_a_completion() {
        let cut = &STREAM[..STREAM
            .find("data: {\"choices\":[{\"index\":0,\"delta\":{},")
            .unwrap()];
        assert_eq!(
            read(&[cut.as_bytes()]).unwrap_err(),
            ModelError::Unavailable { status: None }
        );
        for bad in [
            "data: {not json}\n\n",
            "data: [DONE]\n\ndata: {\"choices\":[]}\n\n",
            // A tool call at index 1 with none at 0.
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"name\":\"x\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
            // A tool call without a name.
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\"}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
        ] {
            assert_eq!(
                read(&[bad.as_bytes()]).unwrap_err(),
                ModelError::BadResponse,
                "{bad}"
            );
        }
        let mut big = ChunkStream::new(10);
        assert_eq!(big.push(&[b'x'; 11]), Err(ModelError::BadResponse));
    }
}
