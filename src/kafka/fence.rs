//! Whether this process may send a Kafka write now. The Kafka client is handed one when it is
//! built and asks it before every write; what opens and closes it (leader election, src/leader.rs)
//! is not this layer's business.

use std::fmt;
use std::sync::Arc;

#[derive(Clone)]
pub struct WriteFence(Option<Arc<dyn Fn() -> bool + Send + Sync>>);

impl WriteFence {
    /// Always open: a process that is the only writer (no leader election), or a client that
    /// never writes (`plan`, `import`).
    pub fn always_open() -> Self {
        WriteFence(None)
    }

    /// Open while `is_open` says so.
    pub fn new(is_open: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        WriteFence(Some(Arc::new(is_open)))
    }

    pub fn is_open(&self) -> bool {
        self.0.as_ref().is_none_or(|is_open| is_open())
    }
}

impl fmt::Debug for WriteFence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("WriteFence(always open)"),
            Some(_) => write!(f, "WriteFence(open: {})", self.is_open()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn a_fence_is_open_exactly_while_its_source_says_so() {
        assert!(WriteFence::always_open().is_open());
        let open = Arc::new(AtomicBool::new(false));
        let source = open.clone();
        let fence = WriteFence::new(move || source.load(Ordering::SeqCst));
        assert!(!fence.is_open());
        open.store(true, Ordering::SeqCst);
        assert!(fence.clone().is_open());
    }
}
