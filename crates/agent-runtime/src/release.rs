//! The answer released to the caller as the model writes it, each window of text only after
//! the output guardrail has passed it, as Bedrock's synchronous streaming guardrail mode does:
//! the unchecked tail is held back, nothing unchecked is ever sent, and an intervention ends the
//! stream with the guardrail's text.
//!
//! Windows end at a sentence's end (or, in a long run without one, at a space), so no word is
//! split between two checks. The first window is short, so the first words reach the clinician
//! about one guardrail check after the model starts writing; later ones are longer (fewer
//! ApplyGuardrail calls, each billed per 1,000 characters). A pattern cut by a window's edge
//! (a name in one sentence, a number in the next) is checked in two halves.
//!
//! A window's check starts as soon as the window is whole, while earlier windows may still be
//! in their checks: windows are released strictly in order, each once its own check passed, so
//! the answer's last window waits for one check after the model's last word, not for the checks
//! queued before it. The turn polls the checks while it reads the model ([`Release::checked`]).

use std::future::Future;
use std::pin::Pin;

use futures::StreamExt as _;
use futures::stream::FuturesOrdered;
use tenant_context::ClinicId;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::{InvocationError, Stage};
use crate::events::AgentEvent;
use crate::guardrail::{Checked, Guardrail, Side};

/// The first window ends at the first sentence end after this many characters...
pub const FIRST_WINDOW: usize = 40;
/// ...and later ones at the last sentence end after this many (a third of a text unit).
pub const WINDOW: usize = 300;

/// How a release ended early.
#[derive(Debug)]
pub enum Stopped {
    /// The guardrail intervened: its text was sent in place of the window, nothing after it.
    Intervened,
    /// The turn must end with this error (nothing unchecked was sent).
    Failed(InvocationError),
}

/// A window and its check's outcome (`None`: the turn's deadline came first).
pub type Done = (String, Option<Checked>);
type Check<'a> = Pin<Box<dyn Future<Output = Done> + Send + 'a>>;

pub struct Release<'a> {
    /// `None`: the text goes out as it comes (no guardrail, or the prompt went unchecked).
    guardrail: Option<&'a Guardrail>,
    clinic: &'a ClinicId,
    events: &'a mpsc::Sender<AgentEvent>,
    deadline: Instant,
    held: String,
    /// Windows cut so far (the first is the short one).
    windows: usize,
    /// Windows in their checks, in release order.
    checking: FuturesOrdered<Check<'a>>,
    released: String,
    /// A window went out unchecked (the guardrail was unreachable on a tier that allows it).
    unchecked: bool,
    stopped: Option<Stopped>,
}

impl<'a> Release<'a> {
    pub fn new(
        guardrail: Option<&'a Guardrail>,
        clinic: &'a ClinicId,
        events: &'a mpsc::Sender<AgentEvent>,
        deadline: Instant,
    ) -> Self {
        Self {
            guardrail,
            clinic,
            events,
            deadline,
            held: String::new(),
            windows: 0,
            checking: FuturesOrdered::new(),
            released: String::new(),
            unchecked: false,
            stopped: None,
        }
    }

    /// Takes the model's next text; every whole window it completes goes into its check.
    pub fn take(&mut self, text: &str) {
        if self.stopped.is_some() {
            return;
        }
        self.held.push_str(text);
        loop {
            let min = if self.windows == 0 {
                FIRST_WINDOW
            } else {
                WINDOW
            };
            let Some(cut) = window_end(&self.held, min) else {
                break;
            };
            let window: String = self.held.drain(..cut).collect();
            self.check(window);
        }
    }

    /// Whether a window is in its check (then [`Release::checked`] has something to wait for).
    pub fn is_checking(&self) -> bool {
        !self.checking.is_empty()
    }

    /// The next window, in order, once its check has ended; give it to [`Release::settle`].
    /// Safe to drop unfinished (in a `select!`): nothing is taken from the queue until then.
    pub async fn checked(&mut self) -> Option<Done> {
        self.checking.next().await
    }

    /// Releases what is held (the end of the model's text for this round) and waits for every
    /// window's check, releasing each.
    pub async fn flush(&mut self) {
        if self.stopped.is_none() && !self.held.is_empty() {
            let window = std::mem::take(&mut self.held);
            self.check(window);
        }
        while let Some(done) = self.checking.next().await {
            self.settle(done).await;
        }
    }

    fn check(&mut self, window: String) {
        self.windows += 1;
        let check: Check<'a> = match self.guardrail {
            Some(guardrail) if !window.trim().is_empty() => {
                let (clinic, deadline) = (self.clinic, self.deadline);
                Box::pin(async move {
                    let check = guardrail.check(Side::Answer, &window, clinic);
                    let checked = tokio::time::timeout_at(deadline, check).await.ok();
                    (window, checked)
                })
            }
            // Nothing to check: it goes out in its turn.
            _ => Box::pin(std::future::ready((window, Some(Checked::Pass)))),
        };
        self.checking.push_back(check);
    }

    /// Sends a checked window, or what the guardrail sent in its place, or stops.
    pub async fn settle(&mut self, (window, checked): Done) {
        if self.stopped.is_some() {
            return;
        }
        match checked {
            None => self.stop(Stopped::Failed(InvocationError::DeadlineExceeded(
                Stage::OutputGuardrail,
            ))),
            Some(Checked::Pass) => self.send(window).await,
            Some(Checked::Unchecked) => {
                self.unchecked = true;
                self.send(window).await;
            }
            Some(Checked::Intervened(replacement)) => {
                self.send(replacement).await;
                self.stop(Stopped::Intervened);
            }
            Some(Checked::Refuse) => {
                self.stop(Stopped::Failed(InvocationError::GuardrailUnavailable));
            }
        }
    }

    /// Nothing more goes out: the windows after this one are dropped, checked or not.
    fn stop(&mut self, why: Stopped) {
        self.stopped = Some(why);
        self.checking = FuturesOrdered::new();
        self.held.clear();
    }

    async fn send(&mut self, text: String) {
        if text.is_empty() {
            return;
        }
        self.released.push_str(&text);
        // A caller that left does not stop the turn (its memory and usage still count).
        let _ = self.events.send(AgentEvent::TextDelta { text }).await;
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.is_some()
    }

    /// Everything the caller was sent, whether any of it went out unchecked, and how the
    /// release ended early, if it did.
    pub fn finish(self) -> (String, bool, Option<Stopped>) {
        (self.released, self.unchecked, self.stopped)
    }
}

/// Where the window that starts `text` ends: after the last sentence end (`.`, `!`, `?` or a
/// line break, followed by whitespace) past `min` characters, else after the last space past
/// `4 * min`; `None` while neither is there (the rest waits for more text or the end).
fn window_end(text: &str, min: usize) -> Option<usize> {
    let start = text.char_indices().nth(min).map(|(i, _)| i)?;
    let tail = &text[start..];
    let sentence = tail
        .char_indices()
        .zip(tail.chars().skip(1))
        .filter(|((_, c), next)| matches!(c, '.' | '!' | '?' | '\n') && next.is_whitespace())
        .map(|((i, c), next)| start + i + c.len_utf8() + next.len_utf8())
        .last();
    if sentence.is_some() {
        return sentence;
    }
    let long = text.char_indices().nth(4 * min).map(|(i, _)| i)?;
    text[long..]
        .rfind(' ')
        .map(|i| long + i + 1)
        .or_else(|| text[..long].rfind(' ').map(|i| i + 1))
        .filter(|&i| i > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_end_after_a_sentence_past_the_minimum() {
        assert_eq!(window_end("Short. More", 40), None);
        let text = "The clinic opens at eight in the morning. It closes at six. Then";
        let cut = window_end(text, 40).unwrap();
        assert_eq!(
            &text[..cut],
            "The clinic opens at eight in the morning. It closes at six. "
        );
        // No sentence end yet: wait, unless the run is long, then cut at a space.
        assert_eq!(window_end(&"word ".repeat(20), 40), None);
        let long = "word ".repeat(40);
        let cut = window_end(&long, 40).unwrap();
        assert!(long[..cut].ends_with(' ') && cut >= 160, "{cut}");
        // Multi-byte text is cut at character boundaries.
        let text = format!("{}. ü", "é".repeat(50));
        let cut = window_end(&text, 40).unwrap();
        assert_eq!(&text[cut..], "ü");
    }
}
