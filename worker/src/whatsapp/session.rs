//! The session's state machine: follow the page, report what changes, run commands.
//!
//! 1. Open the web URL; while the site cannot be reached, or the page stays on a loading (or
//!    browser error) screen for [`STUCK_LOADING`], open it again.
//! 2. Every [`POLL_INTERVAL`] (every [`IDLE_POLL_INTERVAL`] while linked and idle), read one
//!    [`Snapshot`] (one WebDriver round trip: the page's
//!    modules through the hook it installs once per load, then the DOM). Decide which path each
//!    capability takes on this page load ([`EngineChoice`]) and report it (`Engine`) when it
//!    changes. Then act on the [`Screen`], from the socket's state where the modules tell it:
//!    - a live QR: `Qr` once per payload; a dead one: `QrExpired` once, then ask for a new
//!      cycle (`Cmd.refreshQR()`, or the reload button);
//!    - the app with the own number known: `Ready` once per linking (again after a conflict);
//!    - the landing screen after being linked: `LoggedOut`, then its QRs as usual;
//!    - a conflict: `Conflict` once, then take the session back (`Socket.takeover()`, or
//!      "Use here");
//!    - a page refusing the browser (or an account WhatsApp blocks): a fatal error;
//!    - incoming messages and acks: from the hook's queue (nothing marked read), or, on the
//!      DOM, by opening unread chats ([`super::incoming`]) and following the sent messages'
//!      rows (`Ack`, [`send::AckWatch`]); a media message's file is read from its row first
//!      ([`super::media_receive`], which may open its chat);
//!    - whatever the screen: the incoming messages the supervisor has not said are stored,
//!      again ([`Unstored`]), until it answers `IncomingStored`.
//! 3. Between polls, commands from the supervisor run one at a time ([`super::module_send`]
//!    or [`super::send`] for texts, [`super::media_send`] for files, [`super::pairing`]); the
//!    next poll takes up whatever page they leave. A pairing code asked for a number other
//!    than the one whose flow the page shows (or while a code not asked for by this worker is
//!    on show) first opens the web URL again, as the flow answers the code on show. Commands
//!    that arrive while a send waits for the supervisor's `AttemptRecorded` run after that
//!    send.
//!
//! Nothing here sleeps for an assumed timing: each wait polls for a screen, with a deadline.
//! The loop ends only by an error (reported as `Fatal` by the caller) or by being dropped when
//! the worker stops.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, info, warn};
use wamux_proto::{
    Ack, Attempt, EnginePath, Engines, IncomingMessage, OutgoingMedia, SendError, StartStep,
    SupervisorCommand, WorkerEvent,
};

use super::incoming::{self, Inbox, SeenIds, Step, Unstored};
use super::media_receive::{self, MediaStore};
use super::modules::{self, EngineChoice, ModuleFacts};
use super::page::{
    self, Delivery, FLOW_POLL_INTERVAL, ModuleCall, POLL_INTERVAL, Reading, Screen, Snapshot,
    Target,
};
use super::{media_send, module_send, pairing, send};
use crate::browser::webdriver::{Driver, DriverError};
use crate::process::link::EventSink;

/// How often an idle linked session looks at its page: the modules queue what happens
/// meanwhile, and a command is taken up at once whatever the interval.
const IDLE_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Unreadable snapshots in a row (about 15 s of them) before the page counts as broken.
const MAX_UNREADABLE_POLLS: u32 = 60;
/// How often a click the page did not answer (reload QR, "Use here") is tried again.
const CLICK_RETRY: Duration = Duration::from_secs(5);
/// How soon a navigation that failed (site unreachable) is tried again.
const NAVIGATION_RETRY: Duration = Duration::from_secs(5);
/// How long the page may show nothing recognisable before it is opened again: the real site
/// may load for a while, but a browser error page (the site was down during a reload) stays.
const STUCK_LOADING: Duration = Duration::from_secs(120);

pub struct SessionOptions {
    /// The web URL without a trailing slash.
    pub web_url: String,
    pub send_timeout: Duration,
    /// Where files to send are given to the page from.
    pub upload_dir: PathBuf,
    /// Where the files of incoming media go.
    pub media: MediaStore,
}

/// Follows the page until an error; the caller drops it to stop.
pub async fn run(
    driver: Driver,
    options: &SessionOptions,
    events: &mut EventSink,
    commands: &mut UnboundedReceiver<SupervisorCommand>,
) -> Result<Infallible> {
    let mut session = Session {
        driver,
        options,
        events,
        linked: None,
        ready_reported: false,
        number_missing_warned: false,
        last_qr: None,
        last_code: None,
        code_for: None,
        expired_click: None,
        conflict_click: None,
        unreadable_polls: 0,
        navigate_at: None,
        loading_since: None,
        inbox: Inbox::default(),
        navigated: false,
        screen_seen: false,
        engines: EngineChoice::default(),
        reported: SeenIds::default(),
        unstored: Unstored::default(),
        acks: send::AckWatch::default(),
        deferred: VecDeque::new(),
    };
    session.open_home().await?;
    let mut next_poll = Instant::now();
    loop {
        if let Some(command) = session.deferred.pop_front() {
            session.run_command(command, commands).await?;
            continue;
        }
        tokio::select! {
            biased;
            Some(command) = commands.recv() => session.run_command(command, commands).await?,
            () = sleep_until(next_poll) => {
                session.poll().await?;
                next_poll = Instant::now() + session.poll_every();
            }
        }
    }
}

/// A `SendText` command's fields.
struct Text<'a> {
    request_id: u64,
    phone_number: &'a str,
    text: &'a str,
    resume: Option<&'a Attempt>,
}

/// A `SendMedia` command's fields.
struct File<'a> {
    request_id: u64,
    phone_number: &'a str,
    caption: &'a str,
    media: &'a OutgoingMedia,
    resume: Option<&'a Attempt>,
}

struct Session<'a> {
    driver: Driver,
    options: &'a SessionOptions,
    events: &'a mut EventSink,
    /// The account's number while the page is linked to it.
    linked: Option<String>,
    /// Whether `Ready` was reported for the current linking (cleared by a conflict).
    ready_reported: bool,
    number_missing_warned: bool,
    /// The last live QR payload reported.
    last_qr: Option<String>,
    /// The last pairing code reported, so that each code is reported once.
    last_code: Option<String>,
    /// The number (digits) the phone-number flow on show was run for, so that a code on show
    /// is known to be that number's; `None` once the page shows anything else.
    code_for: Option<String>,
    /// When the reload button of an expired QR was last clicked.
    expired_click: Option<Instant>,
    /// When "Use here" was last clicked for the conflict on show.
    conflict_click: Option<Instant>,
    unreadable_polls: u32,
    /// When to open the web URL again after a failed navigation.
    navigate_at: Option<Instant>,
    /// Since when the page shows nothing recognisable.
    loading_since: Option<Instant>,
    inbox: Inbox,
    /// Whether a navigation to the site, and a screen other than the loading one, were seen:
    /// each is a step of the start, reported once.
    navigated: bool,
    screen_seen: bool,
    /// Which path each capability takes on the page on show.
    engines: EngineChoice,
    /// The incoming messages the modules told of, so that a page load's catch-up does not
    /// report them again.
    reported: SeenIds,
    /// The incoming messages reported and not yet stored by the supervisor.
    unstored: Unstored,
    /// The messages sent, for their later statuses.
    acks: send::AckWatch,
    /// Commands received while a send waited, in order.
    deferred: VecDeque<SupervisorCommand>,
}

impl Session<'_> {
    /// One navigation to the web URL; a failure that is not the browser's end is retried later
    /// by [`Session::poll`], so that commands are still answered meanwhile.
    async fn open_home(&mut self) -> Result<()> {
        self.loading_since = None;
        self.navigate_at = None;
        self.code_for = None;
        match self.driver.goto(&self.options.web_url).await {
            Ok(()) => {
                if !self.navigated {
                    self.navigated = true;
                    self.events
                        .send(WorkerEvent::StartStep(StartStep::FirstNavigation))
                        .await;
                }
                Ok(())
            }
            Err(err) if err.is_fatal() => Err(err).context("cannot open WhatsApp Web"),
            Err(err) => {
                warn!(url = %self.options.web_url, "cannot open WhatsApp Web, will retry: {err}");
                self.navigate_at = Some(Instant::now() + NAVIGATION_RETRY);
                Ok(())
            }
        }
    }

    /// The pause before the next poll: long while linked with nothing going on, shortest until
    /// the first screen shows (the first QR code is what a person waits for), short otherwise
    /// (a QR to show, a load, a conflict, messages to report again).
    fn poll_every(&self) -> Duration {
        let idle = self.linked.is_some()
            && self.ready_reported
            && self.conflict_click.is_none()
            && self.loading_since.is_none()
            && self.unstored.is_empty();
        if idle {
            IDLE_POLL_INTERVAL
        } else if !self.screen_seen {
            FLOW_POLL_INTERVAL
        } else {
            POLL_INTERVAL
        }
    }

    async fn poll(&mut self) -> Result<()> {
        for message in self.unstored.due(std::time::Instant::now()) {
            info!(chat = %message.chat_id, id = %message.message_id, "incoming message not stored yet, reporting it again");
            self.events
                .send(WorkerEvent::Incoming(Box::new(message)))
                .await;
        }
        if self.navigate_at.is_some_and(|at| at <= Instant::now()) {
            return self.open_home().await;
        }
        let engines = self.engines.current();
        let dom_reads = engines.incoming == EnginePath::Dom || engines.acks == EnginePath::Dom;
        let reading = Reading {
            rows: if dom_reads { Reading::DOM.rows } else { 0 },
            unread: engines.incoming == EnginePath::Dom,
            drain: true,
        };
        let snap = match page::read(&self.driver, reading).await {
            Ok(snap) => {
                self.unreadable_polls = 0;
                snap
            }
            Err(err) if !err.is_fatal() && self.unreadable_polls < MAX_UNREADABLE_POLLS => {
                self.unreadable_polls += 1;
                debug!("page not readable: {err}");
                return Ok(());
            }
            Err(err) => return Err(err).context("cannot read the page"),
        };
        let dom_screen = Screen::of(&snap);
        if let Some(engines) = self.engines.observe(snap.modules.as_ref(), &dom_screen) {
            report_engines(engines, snap.modules.as_ref());
            self.events.send(WorkerEvent::Engine(engines)).await;
        }
        let engines = self.engines.current();
        let screen = match &snap.modules {
            Some(facts) if engines.state == EnginePath::Modules => {
                modules::screen(facts, dom_screen)
            }
            _ => dom_screen,
        };
        if let Some(facts) = &snap.modules {
            self.take_events(facts, engines).await?;
        }
        if screen != Screen::Loading && !self.screen_seen {
            self.screen_seen = true;
            self.events
                .send(WorkerEvent::StartStep(StartStep::FirstScreen))
                .await;
        }
        if screen == Screen::Loading {
            let since = *self.loading_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= STUCK_LOADING {
                warn!(url = %snap.url, "the page shows nothing known for too long, opening it again");
                return self.open_home().await;
            }
        } else {
            self.loading_since = None;
        }
        if screen.is_landing() {
            self.on_landing(&screen).await?;
        } else if screen.is_linked() {
            self.on_linked(&snap, &screen).await?;
        } else if let Screen::Refused(text) = screen {
            return Err(anyhow!("WhatsApp Web refused the browser: {text}"));
        } else if screen == Screen::InvalidNumber {
            page::click(&self.driver, Target::DialogOk).await?;
        }
        Ok(())
    }

    async fn on_landing(&mut self, screen: &Screen) -> Result<()> {
        if let Some(number) = self.linked.take() {
            info!(number, "the phone unlinked this device");
            self.ready_reported = false;
            self.inbox = Inbox::default();
            self.events.send(WorkerEvent::LoggedOut).await;
        }
        match screen {
            Screen::PairingCode(code)
                if pairing::is_whole(code) && self.last_code.as_ref() != Some(code) =>
            {
                info!("new pairing code on show");
                self.report_code(code.clone()).await;
            }
            Screen::Qr(payload) => {
                self.last_code = None;
                self.code_for = None;
                self.expired_click = None;
                if self.last_qr.as_ref() != Some(payload) {
                    info!("new QR code");
                    self.last_qr = Some(payload.clone());
                    self.events
                        .send(WorkerEvent::Qr {
                            payload: payload.clone(),
                        })
                        .await;
                }
            }
            Screen::QrExpired => {
                if self.expired_click.is_none() {
                    info!("the QR code expired, asking for a new one");
                    self.events.send(WorkerEvent::QrExpired).await;
                }
                if self
                    .expired_click
                    .is_none_or(|at| at.elapsed() >= CLICK_RETRY)
                {
                    self.expired_click = Some(Instant::now());
                    if self.engines.current().state == EnginePath::Modules {
                        page::call(&self.driver, ModuleCall::RefreshQr).await?;
                    } else {
                        page::click(&self.driver, Target::QrReload).await?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn on_linked(&mut self, snap: &Snapshot, screen: &Screen) -> Result<()> {
        self.last_qr = None;
        self.last_code = None;
        self.code_for = None;
        self.expired_click = None;
        if *screen == Screen::Conflict {
            if self.conflict_click.is_none() {
                info!("WhatsApp Web is open in another window, taking it back");
                self.ready_reported = false;
                self.events.send(WorkerEvent::Conflict).await;
            }
            if self
                .conflict_click
                .is_none_or(|at| at.elapsed() >= CLICK_RETRY)
            {
                self.conflict_click = Some(Instant::now());
                if self.engines.current().state == EnginePath::Modules {
                    page::call(&self.driver, ModuleCall::Takeover).await?;
                } else {
                    page::click(&self.driver, Target::UseHere).await?;
                }
            }
            return Ok(());
        }
        self.conflict_click = None;
        if !matches!(screen, Screen::App | Screen::Chat { .. }) {
            return Ok(());
        }
        let engines = self.engines.current();
        let from_modules = snap
            .modules
            .as_ref()
            .filter(|_| engines.state == EnginePath::Modules)
            .and_then(|facts| facts.me.as_deref())
            .and_then(page::parse_own_number);
        let Some(number) = from_modules.or_else(|| snap.own_number()) else {
            if !self.number_missing_warned {
                self.number_missing_warned = true;
                warn!("linked, but the page does not tell its own number yet");
            }
            return Ok(());
        };
        if self.linked.as_ref() != Some(&number) || !self.ready_reported {
            info!(number, "linked and ready");
            self.linked = Some(number.clone());
            self.ready_reported = true;
            self.number_missing_warned = false;
            self.events
                .send(WorkerEvent::Ready {
                    phone_number: number,
                })
                .await;
        }
        if engines.acks == EnginePath::Dom {
            for (message_id, ack) in self.acks.changes(&snap.messages) {
                self.report_ack(message_id, ack).await;
            }
        }
        if engines.incoming == EnginePath::Modules {
            return Ok(());
        }
        match self.inbox.step(snap, std::time::Instant::now()) {
            Step::Nothing => {}
            Step::Open(index) => {
                debug!(index, "opening a chat with unread messages");
                page::click(&self.driver, Target::UnreadChat(index)).await?;
            }
            Step::Report(messages) => {
                for message in messages {
                    self.report_incoming(message).await?;
                }
            }
        }
        Ok(())
    }

    /// Reports `message`, with its file read first if it has one and cut to fit in a frame,
    /// and keeps it until stored.
    async fn report_incoming(&mut self, mut message: IncomingMessage) -> Result<()> {
        media_receive::fetch(
            &self.driver,
            &self.options.media,
            &self.options.web_url,
            &mut message,
        )
        .await
        .context("the browser failed while reading a media file")?;
        let message = incoming::fit(message);
        info!(chat = %message.chat_id, id = %message.message_id, kind = %message.kind, "incoming message");
        self.unstored
            .reported(message.clone(), std::time::Instant::now());
        self.events
            .send(WorkerEvent::Incoming(Box::new(message)))
            .await;
        Ok(())
    }

    async fn report_ack(&mut self, message_id: String, ack: Ack) {
        info!(message_id, ?ack, "a sent message moved on");
        self.events.send(WorkerEvent::Ack { message_id, ack }).await;
    }

    /// The messages and acks the modules hook queued, for the capabilities it serves.
    async fn take_events(&mut self, facts: &ModuleFacts, engines: Engines) -> Result<()> {
        for event in &facts.events {
            if engines.acks == EnginePath::Modules
                && let Some((message_id, ack)) = modules::ack(event)
            {
                self.report_ack(message_id, ack).await;
            }
            if engines.incoming == EnginePath::Modules
                && let Some(message) = modules::incoming(event)
            {
                let key = format!("{}_{}", message.chat_id, message.message_id);
                if self.reported.contains(&key) {
                    continue;
                }
                self.reported.insert(&key);
                self.report_incoming(message).await?;
            }
        }
        Ok(())
    }

    async fn run_command(
        &mut self,
        command: SupervisorCommand,
        commands: &mut UnboundedReceiver<SupervisorCommand>,
    ) -> Result<()> {
        match command {
            SupervisorCommand::SendText {
                request_id,
                phone_number,
                text,
                resume,
            } => {
                let message = Text {
                    request_id,
                    phone_number: &phone_number,
                    text: &text,
                    resume: resume.as_ref(),
                };
                let outcome = self.send_text(&message, commands).await;
                self.answer_send(request_id, outcome).await?;
            }
            SupervisorCommand::SendMedia {
                request_id,
                phone_number,
                caption,
                media,
                resume,
            } => {
                let file = File {
                    request_id,
                    phone_number: &phone_number,
                    caption: &caption,
                    media: &media,
                    resume: resume.as_ref(),
                };
                let outcome = self.send_file(&file, commands).await;
                self.answer_send(request_id, outcome).await?;
            }
            SupervisorCommand::AttemptRecorded { request_id } => {
                debug!(
                    request_id,
                    "an attempt recorded after its send ended, ignored"
                );
            }
            SupervisorCommand::IncomingStored { message_id } => {
                debug!(message_id, "incoming message stored");
                self.unstored.stored(&message_id);
            }
            SupervisorCommand::RequestPairingCode { phone_number } => {
                self.request_pairing_code(&phone_number).await?;
            }
            SupervisorCommand::Shutdown => {
                unreachable!("the socket reader turns Shutdown into a stop")
            }
        }
        Ok(())
    }

    /// Answers a send with `SendResult`; a browser that failed during it is the session's end.
    async fn answer_send(
        &mut self,
        request_id: u64,
        outcome: Result<send::Outcome, DriverError>,
    ) -> Result<()> {
        let (outcome, fatal) = match outcome {
            Ok(outcome) => (outcome, None),
            Err(err) => (Err(SendError::Failed(err.to_string())), Some(err)),
        };
        match &outcome {
            Ok(sent) => {
                info!(request_id, message_id = %sent.message_id, "sent");
                self.acks.watch(sent.message_id.clone(), Delivery::Sent);
            }
            Err(err) => warn!(request_id, "send failed: {err}"),
        }
        self.events
            .send(WorkerEvent::SendResult {
                request_id,
                outcome,
            })
            .await;
        match fatal {
            Some(err) => Err(err).context("the browser failed during a send"),
            None => Ok(()),
        }
    }

    /// The digits to send to, or why nothing can be sent now.
    fn recipient<'p>(&self, phone_number: &'p str) -> Result<&'p str, SendError> {
        let digits = phone_number.strip_prefix('+').unwrap_or(phone_number);
        if !page::is_digits(digits) {
            return Err(SendError::Failed(format!(
                "not a phone number in digits: {phone_number:?}"
            )));
        }
        if self.linked.is_none() || self.conflict_click.is_some() {
            return Err(SendError::NotLinked);
        }
        Ok(digits)
    }

    async fn send_text(
        &mut self,
        text: &Text<'_>,
        commands: &mut UnboundedReceiver<SupervisorCommand>,
    ) -> Result<send::Outcome, DriverError> {
        let request_id = text.request_id;
        let digits = match self.recipient(text.phone_number) {
            Ok(digits) => digits,
            Err(failure) => return Ok(Err(failure)),
        };
        info!(
            request_id,
            to = digits,
            resume = text.resume.is_some(),
            "sending"
        );
        let message = send::Message {
            base_url: &self.options.web_url,
            request_id,
            phone_number: digits,
            text: text.text,
            resume: text.resume,
            timeout: self.options.send_timeout,
        };
        let mut link = send::Link {
            events: &mut *self.events,
            commands,
            deferred: &mut self.deferred,
        };
        let through_modules = self.engines.current().send == EnginePath::Modules
            && text.resume.is_none_or(|earlier| earlier.planned.is_some());
        let by_modules = if through_modules {
            module_send::send(&self.driver, &message, &mut link).await?
        } else {
            None
        };
        match by_modules {
            Some(outcome) => Ok(outcome),
            None => send::send(&self.driver, &message, &mut self.inbox, &mut link).await,
        }
    }

    /// Always through the DOM: the page's modules offer no media send (contract §10).
    async fn send_file(
        &mut self,
        file: &File<'_>,
        commands: &mut UnboundedReceiver<SupervisorCommand>,
    ) -> Result<send::Outcome, DriverError> {
        let digits = match self.recipient(file.phone_number) {
            Ok(digits) => digits,
            Err(failure) => return Ok(Err(failure)),
        };
        info!(
            request_id = file.request_id,
            to = digits,
            kind = file.media.kind.as_str(),
            size = file.media.size,
            resume = file.resume.is_some(),
            "sending a file"
        );
        let message = media_send::MediaMessage {
            base_url: &self.options.web_url,
            request_id: file.request_id,
            phone_number: digits,
            caption: file.caption,
            media: file.media,
            resume: file.resume,
            timeout: self.options.send_timeout,
            upload_dir: &self.options.upload_dir,
        };
        let mut link = send::Link {
            events: &mut *self.events,
            commands,
            deferred: &mut self.deferred,
        };
        media_send::send(&self.driver, &message, &mut self.inbox, &mut link).await
    }

    async fn request_pairing_code(&mut self, phone_number: &str) -> Result<()> {
        if self.linked.is_some() {
            warn!("a pairing code was asked for, but the session is already linked");
            let reason = "the session is already linked".to_owned();
            self.events
                .send(WorkerEvent::PairingCodeFailed { reason })
                .await;
            return Ok(());
        }
        let digits: String = phone_number.chars().filter(char::is_ascii_digit).collect();
        info!(phone = digits, "asking for a pairing code");
        // The flow answers the code on show at once: another number's must go first.
        let another_number = match self.code_for.as_deref() {
            Some(asked_for) => asked_for != digits,
            None => self.code_on_show().await?,
        };
        if another_number {
            info!(
                phone = digits,
                on_show_for = self.code_for.as_deref(),
                "the page shows the pairing flow of another number, opening WhatsApp Web again"
            );
            self.last_code = None;
            self.open_home().await?;
            if self.navigate_at.is_some() {
                let reason = "cannot open WhatsApp Web again to ask for a new code".to_owned();
                self.events
                    .send(WorkerEvent::PairingCodeFailed { reason })
                    .await;
                return Ok(());
            }
        }
        self.code_for = Some(digits.clone());
        match pairing::request_code(&self.driver, &digits, self.options.send_timeout).await {
            Ok(code) => {
                info!("pairing code on show");
                self.report_code(code).await;
                Ok(())
            }
            Err(err)
                if err
                    .downcast_ref::<DriverError>()
                    .is_some_and(DriverError::is_fatal) =>
            {
                Err(err.context("the browser failed while asking for a pairing code"))
            }
            Err(err) => {
                warn!("cannot get a pairing code: {err:#}");
                let reason = format!("{err:#}");
                self.events
                    .send(WorkerEvent::PairingCodeFailed { reason })
                    .await;
                Ok(())
            }
        }
    }

    /// Reports `code`, from now on the one on show (which a QR code no longer is).
    async fn report_code(&mut self, code: String) {
        self.last_qr = None;
        self.last_code = Some(code.clone());
        self.events.send(WorkerEvent::PairingCode { code }).await;
    }

    /// Whether the page shows a pairing code (whole or being drawn); when it cannot be read,
    /// whether the last poll saw one.
    async fn code_on_show(&self) -> Result<bool> {
        let snap = page::poll(&self.driver)
            .await
            .context("cannot read the page")?;
        Ok(match snap {
            Some(snap) => matches!(Screen::of(&snap), Screen::PairingCode(_)),
            None => self.last_code.is_some(),
        })
    }
}

/// The log line of a new choice of engines: a capability on the DOM while others use the
/// modules means WhatsApp Web changed, which a person should hear of.
fn report_engines(engines: Engines, facts: Option<&ModuleFacts>) {
    let version = facts.map(|facts| facts.version.as_str());
    let (state, incoming, acks, send) = (
        engines.state.as_str(),
        engines.incoming.as_str(),
        engines.acks.as_str(),
        engines.send.as_str(),
    );
    if engines.mixed() {
        warn!(
            state,
            incoming,
            acks,
            send,
            version,
            "some of WhatsApp Web's modules are missing, those capabilities use the DOM"
        );
    } else {
        info!(state, incoming, acks, send, version, "engines chosen");
    }
}
