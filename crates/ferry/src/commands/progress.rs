//! How upload progress is shown: JSON lines (`--json`), a progress bar on a terminal, or plain
//! lines otherwise.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use ferry_client::{Event, Progress};
use indicatif::{ProgressBar, ProgressStyle};

pub enum Display {
    Json,
    /// The bar, and (parts done this run, parts in the upload).
    Bar(ProgressBar, (AtomicU32, AtomicU32)),
    Plain(Mutex<(u64, u64)>),
}

impl Display {
    pub fn new(json: bool) -> Self {
        if json {
            Display::Json
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            Display::Bar(bar, (AtomicU32::new(0), AtomicU32::new(0)))
        } else {
            Display::Plain(Mutex::new((0, 0)))
        }
    }

    /// Print one JSON line to stdout (flushed, so a killed process leaves whole lines).
    pub fn json_line(value: serde_json::Value) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{value}");
        let _ = out.flush();
    }

    pub fn finish(&self) {
        if let Display::Bar(bar, _) = self {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Display {
    fn event(&self, event: &Event) {
        match self {
            Display::Json => Display::json_line(match event {
                Event::Started { upload_id, total, parts, part_size } => serde_json::json!({
                    "event": "started", "upload_id": upload_id, "total": total, "parts": parts, "part_size": part_size}),
                Event::Resumed { parts, bytes } => {
                    serde_json::json!({"event": "resumed", "parts": parts, "bytes": bytes})
                }
                Event::Restarted { reason } => serde_json::json!({"event": "restarted", "reason": reason}),
                Event::PartStarted { number, size } => {
                    serde_json::json!({"event": "part_started", "number": number, "size": size})
                }
                Event::PartDone { number, size } => {
                    serde_json::json!({"event": "part_done", "number": number, "size": size})
                }
                Event::Retrying { number, attempt, error } => {
                    serde_json::json!({"event": "retrying", "number": number, "attempt": attempt, "error": error})
                }
                Event::Completed { etag } => serde_json::json!({"event": "completed", "etag": etag}),
            }),
            Display::Bar(bar, parts) => match event {
                Event::Started { total, parts: count, .. } => {
                    bar.set_length(*total);
                    parts.1.store(*count, Ordering::Relaxed);
                }
                Event::Resumed { bytes, parts: resumed } => {
                    bar.inc(*bytes);
                    parts.0.fetch_add(*resumed, Ordering::Relaxed);
                    bar.set_message(format!("resumed {resumed} parts"));
                }
                Event::PartDone { size, .. } => {
                    bar.inc(*size);
                    let done = parts.0.fetch_add(1, Ordering::Relaxed) + 1;
                    bar.set_message(format!("part {done}/{}", parts.1.load(Ordering::Relaxed)));
                }
                Event::Retrying { number, attempt, .. } => {
                    bar.set_message(format!("retrying part {number} ({attempt})"))
                }
                _ => {}
            },
            Display::Plain(state) => {
                let Ok(mut s) = state.lock() else { return };
                match event {
                    Event::Started { total, parts, .. } => {
                        s.1 = *total;
                        eprintln!("uploading {total} bytes in {parts} parts");
                    }
                    Event::Resumed { parts, bytes } => {
                        s.0 += bytes;
                        eprintln!("resuming: {parts} parts ({bytes} bytes) already on the server");
                    }
                    Event::Restarted { reason } => eprintln!("starting a new upload: {reason}"),
                    Event::PartDone { number, size } => {
                        s.0 += size;
                        eprintln!("part {number} done ({} of {} bytes)", s.0, s.1);
                    }
                    Event::Retrying { number, attempt, error } => {
                        eprintln!("part {number}: retry {attempt} after: {error}")
                    }
                    Event::Completed { .. } | Event::PartStarted { .. } => {}
                }
            }
        }
    }
}
