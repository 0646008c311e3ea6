//! Commands waiting to be sent, offline or behind the server's receive maximum: a FIFO that
//! counts the encoded bytes of what callers added. The bound is checked where a caller adds
//! a command ([`Queue::try_push`]); what the engine puts back after a lost connection
//! (requests not acknowledged, resubscribes: a few small packets) is neither checked nor
//! counted, so nothing already accepted is ever dropped.

use std::collections::VecDeque;

use crate::packet::{Publish, Subscribe, Unsubscribe};

use super::Handle;

/// A command not sent yet.
#[derive(Debug)]
pub(super) enum Command {
    Publish {
        handle: Handle,
        publish: Publish,
    },
    Subscribe {
        /// `None` for the engine's own resubscribes.
        handle: Option<Handle>,
        packet: Subscribe,
    },
    Unsubscribe {
        handle: Handle,
        packet: Unsubscribe,
    },
}

/// The queue: commands in order, each with its encoded size, and their sum.
#[derive(Debug, Default)]
pub(super) struct Queue {
    commands: VecDeque<(usize, Command)>,
    bytes: usize,
}

/// The queue holds `queued` bytes and a command of `size` bytes would take it past `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Full {
    pub(super) queued: usize,
    pub(super) size: usize,
}

impl Queue {
    /// Appends a caller's command of `size` encoded bytes unless the queue would then hold
    /// more than `max` bytes.
    #[inline]
    pub(super) fn try_push(
        &mut self,
        size: usize,
        max: usize,
        command: Command,
    ) -> Result<(), Full> {
        match self.bytes.checked_add(size) {
            Some(total) if total <= max => {
                self.bytes = total;
                self.commands.push_back((size, command));
                Ok(())
            }
            _ => Err(Full {
                queued: self.bytes,
                size,
            }),
        }
    }

    /// Puts a command the engine takes back in front, whatever the bound; it is not counted.
    #[inline]
    pub(super) fn push_front(&mut self, command: Command) {
        self.commands.push_front((0, command));
    }

    /// The oldest command.
    #[inline]
    pub(super) fn front(&self) -> Option<&Command> {
        self.commands.front().map(|(_, c)| c)
    }

    /// Removes the oldest command.
    #[inline]
    pub(super) fn pop_front(&mut self) -> Option<Command> {
        let (size, command) = self.commands.pop_front()?;
        self.bytes -= size;
        Some(command)
    }

    /// Removes every command, oldest first.
    #[inline]
    pub(super) fn drain(&mut self) -> impl Iterator<Item = Command> + '_ {
        self.bytes = 0;
        self.commands.drain(..).map(|(_, c)| c)
    }

    /// Commands waiting.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.commands.len()
    }

    /// Encoded bytes of the commands waiting.
    #[inline]
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Publish;
    use crate::topic::TopicName;
    use bytes::Bytes;

    fn publish(n: u64) -> Command {
        Command::Publish {
            handle: Handle(n),
            publish: Publish::new(TopicName::new("t").expect("valid"), Bytes::new()),
        }
    }

    #[test]
    fn accepts_commands_up_to_the_byte_bound_and_counts_them_out() {
        let mut q = Queue::default();
        assert_eq!(q.try_push(60, 100, publish(1)), Ok(()));
        assert_eq!(q.try_push(40, 100, publish(2)), Ok(()));
        assert_eq!(
            q.try_push(1, 100, publish(3)),
            Err(Full {
                queued: 100,
                size: 1
            })
        );
        assert_eq!((q.len(), q.bytes()), (2, 100));
        assert!(matches!(
            q.pop_front(),
            Some(Command::Publish {
                handle: Handle(1),
                ..
            })
        ));
        assert_eq!(q.bytes(), 40);
        assert_eq!(q.try_push(60, 100, publish(4)), Ok(()));
    }

    #[test]
    fn rejects_a_size_that_overflows_without_changing_the_count() {
        let mut q = Queue::default();
        assert_eq!(q.try_push(10, usize::MAX, publish(1)), Ok(()));
        assert_eq!(
            q.try_push(usize::MAX, usize::MAX, publish(2)),
            Err(Full {
                queued: 10,
                size: usize::MAX
            })
        );
        assert_eq!(q.bytes(), 10);
    }

    #[test]
    fn commands_taken_back_fit_past_the_bound_and_go_first() {
        let mut q = Queue::default();
        assert_eq!(q.try_push(100, 100, publish(1)), Ok(()));
        q.push_front(publish(2));
        assert_eq!((q.len(), q.bytes()), (2, 100));
        assert!(matches!(
            q.front(),
            Some(Command::Publish {
                handle: Handle(2),
                ..
            })
        ));
        assert!(q.pop_front().is_some());
        assert_eq!(q.bytes(), 100);
        assert_eq!(q.drain().count(), 1);
        assert_eq!((q.len(), q.bytes()), (0, 0));
    }
}
