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

pub struct Release<'a> {
    /// `None`: the text goes out as it comes (no guardrail, or the prompt went unchecked).
    guardrail: Option<&'a Guardrail>,
    clinic: &'a ClinicId,
    events: &'a mpsc::Sender<AgentEvent>,
    deadline: Instant,
    held: String,
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
            released: String::new(),
            unchecked: false,
            stopped: None,
        }
    }

    /// Takes the model's next text; releases every whole window it completes.
    pub async fn take(&mut self, text: &str) {
        if self.stopped.is_some() {
            return;
        }
        self.held.push_str(text);
        let min = if self.released.is_empty() {
            FIRST_WINDOW
        } else {
            WINDOW
        };
        while self.stopped.is_none() {
            let Some(cut) = window_end(&self.held, min) else {
                break;
            };
            let window: String = self.held.drain(..cut).collect();
            self.check_and_send(window).await;
        }
    }

    /// Releases what is held (the end of the model's text for this round).
    pub async fn flush(&mut self) {
        if self.stopped.is_some() || self.held.is_empty() {
            return;
        }
        let window = std::mem::take(&mut self.held);
        self.check_and_send(window).await;
    }

    async fn check_and_send(&mut self, window: String) {
        let Some(guardrail) = self.guardrail else {
            return self.send(window).await;
        };
        if window.trim().is_empty() {
            return self.send(window).await;
        }
        let check = guardrail.check(Side::Answer, &window, self.clinic);
        let Ok(checked) = tokio::time::timeout_at(self.deadline, check).await else {
            self.stopped = Some(Stopped::Failed(InvocationError::DeadlineExceeded(
                Stage::OutputGuardrail,
            )));
            return;
        };
        match checked {
            Checked::Pass => self.send(window).await,
            Checked::Unchecked => {
                self.unchecked = true;
                self.send(window).await;
            }
            Checked::Intervened(replacement) => {
                self.send(replacement).await;
                self.stopped = Some(Stopped::Intervened);
            }
            Checked::Refuse => {
                self.stopped = Some(Stopped::Failed(InvocationError::GuardrailUnavailable));
            }
        }
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
