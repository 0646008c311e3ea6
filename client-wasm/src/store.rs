//! Write-through to the application's store (`options.store`, the `mqttwire/store` build):
//! whenever the engine's durable state changes ([`Client::durable_revision`]), its
//! [`Client::snapshot`] goes to the store's save function, and what the socket would get
//! meanwhile is held until that save resolves. So nothing reaches the broker that follows
//! from state the store does not have yet: a PUBREL never before its message is saved as
//! awaiting PUBCOMP, a PUBREC never before the inbound identifier is, and a publish's
//! promise (which waits for the broker's answer) never resolves before it was saved.
//!
//! [`Client::durable_revision`]: mqttwire::client::Client::durable_revision
//! [`Client::snapshot`]: mqttwire::client::Client::snapshot

use std::cell::RefCell;
use std::rc::Rc;

use bytes::BytesMut;
use js_sys::{Function, Reflect, Uint8Array};
use mqttwire::client::State;
use wasm_bindgen::JsValue;

use crate::contract::{ErrorCode, EventName};
use crate::drive::{Call, Inner, drive};
use crate::error::error;

/// The store's save function and the bytes it holds back.
pub(crate) struct WriteThrough {
    /// `save(bytes)`, returning a promise.
    save: Function,
    /// The durable revision of the last snapshot given to `save`.
    saved: u64,
    /// A save is under way.
    writing: bool,
    /// Bytes for the socket: the first `released` go once the save under way is done, the
    /// rest wait for the next save (or go at once when nothing durable changed).
    held: BytesMut,
    released: usize,
}

impl WriteThrough {
    /// Write-through with `save`; `saved` is the revision the store already has.
    pub(crate) fn new(save: Function, saved: u64) -> WriteThrough {
        WriteThrough {
            save,
            saved,
            writing: false,
            held: BytesMut::new(),
            released: 0,
        }
    }

    /// Holds bytes for the socket.
    pub(crate) fn hold(&mut self, bytes: &[u8]) {
        self.held.extend_from_slice(bytes);
    }

    /// Drops the bytes held for a connection that ended.
    pub(crate) fn forget_held(&mut self) {
        self.held.clear();
        self.released = 0;
    }
}

/// Gives a client not started yet the state `saved` (an `error` event if it is not one)
/// and, with `save`, writes its state through from now on.
pub(crate) fn open(inner: &Rc<RefCell<Inner>>, saved: Option<Vec<u8>>, save: Option<Function>) {
    let mut state = inner.borrow_mut();
    if let Some(bytes) = saved
        && state.engine.restore(&bytes).is_err()
    {
        let e = error(
            ErrorCode::StoreFailed,
            "the store held what is not a saved state of this client: starting without it",
            None,
        );
        let call = state.emit_call(EventName::Error, &[e]);
        drop(state);
        call.perform();
        state = inner.borrow_mut();
    }
    let revision = state.engine.durable_revision();
    state.store = save.map(|save| WriteThrough::new(save, revision));
}

impl Inner {
    /// After a pass over the engine's outputs: starts a save if the durable state changed
    /// and none is under way, and sends what needs no save. A stopped client (`end`)
    /// sends its DISCONNECT at once and still saves its last state.
    pub(crate) fn write_through(&mut self, calls: &mut Vec<Call>) {
        let stopped = self.engine.state() == State::Idle;
        let revision = self.engine.durable_revision();
        let Some(store) = &mut self.store else {
            return;
        };
        if store.writing && !stopped {
            return;
        }
        let save = revision != store.saved;
        if save {
            store.saved = revision;
            store.writing = true;
            store.released = store.held.len();
            let snapshot = Uint8Array::from(&self.engine.snapshot()[..]);
            calls.push(Call::Persist(store.save.clone(), snapshot));
        }
        if !save || stopped {
            store.released = 0;
            let bytes = store.held.split();
            self.transmit(&bytes);
        }
    }
}

/// A save settled: what it covered goes to the socket. A failed save turns the store off
/// (the state stays in memory) with an `error` event whose `cause` is the store's error.
pub(crate) fn written(rc: &Rc<RefCell<Inner>>, ok: bool, value: JsValue) {
    let call = {
        let mut inner = rc.borrow_mut();
        let Some(store) = &mut inner.store else {
            return;
        };
        store.writing = false;
        let released = std::mem::take(&mut store.released);
        let mut bytes = store.held.split_to(released);
        if !ok {
            // Everything held goes too: from now on nothing waits for the store.
            bytes.unsplit(store.held.split());
        }
        inner.transmit(&bytes);
        if ok {
            None
        } else {
            inner.store = None;
            let e = error(
                ErrorCode::StoreFailed,
                "the store could not save: the state is kept in memory only",
                None,
            );
            let _ = Reflect::set(&e, &"cause".into(), &value);
            Some(inner.emit_call(EventName::Error, &[e]))
        }
    };
    if let Some(call) = call {
        call.perform();
    }
    drive(rc);
}
