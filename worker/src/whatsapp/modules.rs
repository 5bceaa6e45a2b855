//! What WhatsApp Web's own modules (contract §10) tell, and which path each capability takes.
//!
//! `scripts/hook.js` runs at the start of every snapshot: once per page load it looks up every
//! module and method the worker may use and listens to the message collection; at each poll it
//! answers [`ModuleFacts`]: the socket's state, whether the app synced, the own number, the
//! pieces on hand ([`Caps`]), and the queued [`PageEvent`]s. Everything here is pure:
//! - [`choose`]: a capability uses the modules only when every piece it needs is there, the
//!   DOM of sections 2–8 otherwise ([`EngineChoice`] follows it from load to load);
//! - [`screen`]: the screen the socket's state stands for, the DOM still giving the QR payload
//!   and the pairing code;
//! - [`incoming`] and [`ack`]: a queued event as the supervisor link carries it (a media
//!   message with what its model says of its file, which the session then reads).

use serde::Deserialize;
use wamux_proto::{Ack, EnginePath, Engines, IncomingMessage};

use super::media_receive::media_of;
use super::page::Screen;

/// Socket states of an account WhatsApp Web refuses to serve; the page cannot go on.
const BLOCKED_STATES: [&str; 4] = [
    "PROXYBLOCK",
    "TOS_BLOCK",
    "SMB_TOS_BLOCK",
    "DEPRECATED_VERSION",
];

/// What `hook.js` answers; absent (`null`) until the app's code has loaded, or on a page
/// without modules.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ModuleFacts {
    /// `Debug.VERSION`, the build.
    pub version: String,
    pub caps: Caps,
    /// `Socket.state`.
    pub state: Option<String>,
    /// `Socket.hasSynced`.
    pub synced: bool,
    /// The own wid (`DIGITS@c.us`), from `getMaybeMePnUser` or the older `getMaybeMeUser`.
    pub me: Option<String>,
    pub events: Vec<PageEvent>,
}

/// The modules and methods found in the page at its load.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Caps {
    pub socket: bool,
    pub takeover: bool,
    pub refresh_qr: bool,
    pub me: bool,
    pub msg_events: bool,
    pub chats: bool,
    pub wid_factory: bool,
    pub find_chat: bool,
    pub msg_key: bool,
    pub add_and_send: bool,
    pub query_exists: bool,
}

/// What the hook queued in the page since the last drain.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PageEvent {
    /// A message that arrived (not ours), decrypted.
    Msg {
        id: String,
        chat: String,
        #[serde(default)]
        author: Option<String>,
        #[serde(default)]
        name: Option<String>,
        #[serde(rename = "type", default)]
        kind: String,
        #[serde(default)]
        body: String,
        #[serde(default)]
        t: Option<i64>,
        /// A media message's file, as its model describes it.
        #[serde(default)]
        mimetype: Option<String>,
        #[serde(default)]
        filename: Option<String>,
        #[serde(default)]
        size: Option<u64>,
    },
    /// One of our messages' ack moved: -1 error, 0 pending, 1 server, 2 device, 3 read,
    /// 4 played.
    Ack { id: String, ack: i64 },
}

/// The path each capability takes given the pieces on hand.
pub fn choose(caps: &Caps) -> Engines {
    let path = |all: bool| {
        if all {
            EnginePath::Modules
        } else {
            EnginePath::Dom
        }
    };
    Engines {
        state: path(caps.socket && caps.takeover && caps.refresh_qr && caps.me),
        incoming: path(caps.msg_events),
        acks: path(caps.msg_events),
        send: path(
            caps.socket
                && caps.me
                && caps.msg_events
                && caps.wid_factory
                && (caps.chats || caps.find_chat)
                && caps.msg_key
                && caps.add_and_send
                && caps.query_exists,
        ),
    }
}

/// The engines of the page on show, decided anew at each page load.
#[derive(Debug, Default)]
pub struct EngineChoice {
    current: Option<Engines>,
}

impl EngineChoice {
    /// The engines in use; DOM for everything until the page has shown what it offers.
    pub fn current(&self) -> Engines {
        self.current.unwrap_or(Engines::DOM)
    }

    /// Takes in one snapshot: `facts` from the hook, `dom_screen` what the DOM shows. The
    /// engines when they changed: decided from the hook's pieces once the app's code has
    /// loaded, or DOM for everything once the page shows a screen without any modules.
    pub fn observe(&mut self, facts: Option<&ModuleFacts>, dom_screen: &Screen) -> Option<Engines> {
        let engines = match facts {
            Some(facts) => choose(&facts.caps),
            None if *dom_screen != Screen::Loading => Engines::DOM,
            None => return None,
        };
        if self.current == Some(engines) {
            return None;
        }
        self.current = Some(engines);
        Some(engines)
    }
}

/// The screen the socket's state stands for. The DOM still tells the landing's QR payload and
/// pairing code, and the dialogs a send through the DOM may leave.
pub fn screen(facts: &ModuleFacts, dom: Screen) -> Screen {
    let Some(state) = facts.state.as_deref() else {
        return dom;
    };
    match state {
        "CONNECTED" if facts.synced => match dom {
            Screen::Chat { .. } | Screen::InvalidNumber | Screen::StartingChat => dom,
            _ => Screen::App,
        },
        "CONFLICT" => Screen::Conflict,
        "UNPAIRED_IDLE" => Screen::QrExpired,
        "UNPAIRED" => match dom {
            Screen::Qr(_) | Screen::PairingCode(_) | Screen::QrExpired => dom,
            _ => Screen::Landing,
        },
        blocked if BLOCKED_STATES.contains(&blocked) => {
            Screen::Refused(format!("WhatsApp Web reports {blocked}"))
        }
        _ => Screen::Loading,
    }
}

/// A queued message as the supervisor link carries it; `None` for an ack.
pub fn incoming(event: &PageEvent) -> Option<IncomingMessage> {
    let PageEvent::Msg {
        id,
        chat,
        author,
        name,
        kind,
        body,
        t,
        mimetype,
        filename,
        size,
    } = event
    else {
        return None;
    };
    let kind = if kind.is_empty() { "chat" } else { kind };
    Some(IncomingMessage {
        message_id: id.clone(),
        chat_id: chat.clone(),
        sender: String::new(),
        name: name.clone().filter(|n| !n.trim().is_empty()),
        author: author.clone().filter(|_| chat.ends_with("@g.us")),
        kind: kind.to_owned(),
        timestamp: *t,
        text: body.clone(),
        original_len: None,
        media: media_of(kind, mimetype.clone(), filename.clone(), *size),
    })
}

/// A queued ack as reported: only Delivered and Read are news (Sent is the send's answer).
pub fn ack(event: &PageEvent) -> Option<(String, Ack)> {
    let PageEvent::Ack { id, ack } = event else {
        return None;
    };
    match ack {
        2 => Some((id.clone(), Ack::Delivered)),
        3 | 4 => Some((id.clone(), Ack::Read)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::page::parse_own_number;
    use super::*;
    use serde_json::json;

    fn all() -> Caps {
        Caps {
            socket: true,
            takeover: true,
            refresh_qr: true,
            me: true,
            msg_events: true,
            chats: true,
            wid_factory: true,
            find_chat: true,
            msg_key: true,
            add_and_send: true,
            query_exists: true,
        }
    }

    fn facts(state: &str, synced: bool) -> ModuleFacts {
        ModuleFacts {
            state: Some(state.into()),
            synced,
            caps: all(),
            ..ModuleFacts::default()
        }
    }

    #[test]
    fn each_capability_uses_the_modules_only_with_every_piece() {
        let modules = Engines {
            state: EnginePath::Modules,
            incoming: EnginePath::Modules,
            acks: EnginePath::Modules,
            send: EnginePath::Modules,
        };
        assert_eq!(choose(&all()), modules);
        assert_eq!(choose(&Caps::default()), Engines::DOM);
        let no_send = Caps {
            add_and_send: false,
            ..all()
        };
        assert_eq!(
            choose(&no_send),
            Engines {
                send: EnginePath::Dom,
                ..modules
            }
        );
        let no_me = Caps { me: false, ..all() };
        let engines = choose(&no_me);
        assert_eq!(
            (engines.state, engines.send),
            (EnginePath::Dom, EnginePath::Dom)
        );
        assert_eq!(engines.incoming, EnginePath::Modules);
        let either_chat = Caps {
            chats: false,
            ..all()
        };
        assert_eq!(choose(&either_chat).send, EnginePath::Modules);
        let no_chat = Caps {
            chats: false,
            find_chat: false,
            ..all()
        };
        assert_eq!(choose(&no_chat).send, EnginePath::Dom);
        let no_messages = Caps {
            msg_events: false,
            ..all()
        };
        let engines = choose(&no_messages);
        assert_eq!(
            (engines.incoming, engines.acks, engines.send, engines.state),
            (
                EnginePath::Dom,
                EnginePath::Dom,
                EnginePath::Dom,
                EnginePath::Modules
            )
        );
    }

    #[test]
    fn the_choice_is_made_once_the_page_shows_what_it_offers_and_again_on_change() {
        let mut choice = EngineChoice::default();
        assert_eq!(choice.current(), Engines::DOM);
        assert_eq!(
            choice.observe(None, &Screen::Loading),
            None,
            "still booting"
        );
        let full = facts("CONNECTED", true);
        assert_eq!(
            choice.observe(Some(&full), &Screen::Loading),
            Some(choose(&all()))
        );
        assert_eq!(choice.observe(Some(&full), &Screen::App), None, "unchanged");
        let dropped = ModuleFacts {
            caps: Caps {
                add_and_send: false,
                ..all()
            },
            ..full.clone()
        };
        assert_eq!(
            choice.observe(Some(&dropped), &Screen::App).map(|e| e.send),
            Some(EnginePath::Dom)
        );
        assert_eq!(choice.observe(None, &Screen::Loading), None, "a reload");
        assert_eq!(
            choice.observe(None, &Screen::App),
            Some(Engines::DOM),
            "a page without modules"
        );
        assert_eq!(choice.current(), Engines::DOM);
    }

    #[test]
    fn the_socket_state_stands_for_a_screen() {
        let qr = Screen::Qr("2@x".into());
        assert_eq!(
            screen(&facts("CONNECTED", true), Screen::Loading),
            Screen::App
        );
        assert_eq!(
            screen(&facts("CONNECTED", false), Screen::App),
            Screen::Loading
        );
        let chat = Screen::Chat {
            compose: "hi".into(),
        };
        assert_eq!(screen(&facts("CONNECTED", true), chat.clone()), chat);
        assert_eq!(
            screen(&facts("CONNECTED", true), Screen::InvalidNumber),
            Screen::InvalidNumber
        );
        assert_eq!(
            screen(&facts("CONFLICT", true), Screen::App),
            Screen::Conflict
        );
        assert_eq!(
            screen(&facts("UNPAIRED_IDLE", false), qr.clone()),
            Screen::QrExpired
        );
        assert_eq!(screen(&facts("UNPAIRED", false), qr.clone()), qr);
        assert_eq!(
            screen(
                &facts("UNPAIRED", false),
                Screen::PairingCode("ABCD1234".into())
            ),
            Screen::PairingCode("ABCD1234".into())
        );
        assert_eq!(
            screen(&facts("UNPAIRED", false), Screen::Loading),
            Screen::Landing
        );
        for state in [
            "OPENING",
            "PAIRING",
            "TIMEOUT",
            "UNLAUNCHED",
            "SOMETHING_NEW",
        ] {
            assert_eq!(
                screen(&facts(state, false), qr.clone()),
                Screen::Loading,
                "{state}"
            );
        }
        assert_eq!(
            screen(&facts("TOS_BLOCK", false), Screen::Loading),
            Screen::Refused("WhatsApp Web reports TOS_BLOCK".into())
        );
        let no_state = ModuleFacts::default();
        assert_eq!(screen(&no_state, qr.clone()), qr);
    }

    #[test]
    fn queued_events_become_messages_and_acks() {
        let facts: ModuleFacts = serde_json::from_value(json!({
            "version": "2.3000.1",
            "caps": {"socket": true, "msgEvents": true, "somethingNew": true},
            "state": "CONNECTED",
            "synced": true,
            "me": "5215512345678@c.us",
            "events": [
                {"kind": "msg", "id": "A1", "chat": "5215511111111@c.us", "author": null,
                 "name": "Ana", "type": "chat", "body": "hola", "t": 1767225600},
                {"kind": "msg", "id": "G1", "chat": "120363@g.us", "author": "5215522222222@c.us",
                 "name": "", "type": "image", "body": "a caption", "t": null,
                 "mimetype": "image/jpeg", "filename": null, "size": 1234},
                {"kind": "ack", "id": "M1", "ack": 2},
                {"kind": "ack", "id": "M1", "ack": 3},
                {"kind": "ack", "id": "M2", "ack": 1},
                {"kind": "ack", "id": "M3", "ack": 4}
            ]
        }))
        .unwrap();
        assert!(facts.caps.socket && facts.caps.msg_events && !facts.caps.me);
        assert_eq!(
            parse_own_number(facts.me.as_deref().unwrap()).as_deref(),
            Some("5215512345678")
        );
        assert_eq!(
            parse_own_number("5215512345678:12@c.us").as_deref(),
            Some("5215512345678")
        );
        assert_eq!(parse_own_number("abc@c.us"), None);
        let messages: Vec<IncomingMessage> = facts.events.iter().filter_map(incoming).collect();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].message_id, "A1");
        assert_eq!(messages[0].name.as_deref(), Some("Ana"));
        assert_eq!(messages[0].author, None);
        assert_eq!(messages[0].kind, "chat");
        assert_eq!(messages[0].timestamp, Some(1_767_225_600));
        assert_eq!(messages[0].text, "hola");
        assert_eq!(messages[0].sender, "");
        assert_eq!(messages[1].author.as_deref(), Some("5215522222222@c.us"));
        assert_eq!(messages[1].name, None);
        assert_eq!(messages[1].kind, "image");
        assert_eq!(messages[1].text, "a caption");
        let media = messages[1].media.as_ref().expect("an image has a file");
        assert_eq!(media.mimetype.as_deref(), Some("image/jpeg"));
        assert_eq!((media.filename.as_deref(), media.size), (None, Some(1234)));
        assert_eq!((&media.path, &media.missing), (&None, &None));
        assert_eq!(messages[0].media, None, "a text has no file");
        let acks: Vec<(String, Ack)> = facts.events.iter().filter_map(ack).collect();
        assert_eq!(
            acks,
            vec![
                ("M1".to_string(), Ack::Delivered),
                ("M1".to_string(), Ack::Read),
                ("M3".to_string(), Ack::Read)
            ]
        );
    }
}
