/**
 * A Server-Sent Events parser (the WHATWG event-stream format): text arrives in arbitrary chunks, lines
 * end in CRLF, LF or CR, `data:` lines join with LF, `:` lines are comments, `id:` persists across frames
 * (it is what a reconnect sends as `Last-Event-ID`), `retry:` sets the reconnect delay.
 */

/** One dispatched event. */
export interface SseFrame {
  /** `event:` (default "message"). */
  readonly event: string;
  /** The `data:` lines joined with "\n". */
  readonly data: string;
  /** The last event id seen so far in the stream (this frame's, or an earlier one's). */
  readonly id: string | undefined;
}

/** An incremental parser. */
export interface SseParser {
  /** Feeds decoded text; returns the frames it completed. */
  push(text: string): SseFrame[];
  /** The reconnect delay the server last asked for (`retry:`), in ms. */
  readonly retryMs: number | undefined;
  /** The last event id (what a reconnect sends). */
  readonly lastEventId: string | undefined;
  /** Comment lines seen (keep-alives). */
  readonly comments: number;
}

/** A new parser; `lastEventId` continues a resumed stream. */
export function createSseParser(lastEventId?: string): SseParser {
  let buffer = "";
  let data: string[] = [];
  let event = "";
  let id = lastEventId;
  let retryMs: number | undefined;
  let comments = 0;
  // A CR at the end of a chunk may be half of a CRLF: a following LF must then not end a second line.
  let skipLeadingLf = false;

  function line(text: string, out: SseFrame[]) {
    if (text === "") {
      if (data.length > 0) out.push({ event: event || "message", data: data.join("\n"), id });
      data = [];
      event = "";
      return;
    }
    if (text.startsWith(":")) {
      comments++;
      return;
    }
    const colon = text.indexOf(":");
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") event = value;
    else if (field === "id") {
      if (!value.includes("\0")) id = value;
    } else if (field === "retry" && /^\d+$/.test(value)) retryMs = Number(value);
  }

  return {
    push(text) {
      const out: SseFrame[] = [];
      if (skipLeadingLf && text.startsWith("\n")) text = text.slice(1);
      skipLeadingLf = false;
      buffer += text;
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer[i];
        if (c !== "\n" && c !== "\r") continue;
        line(buffer.slice(start, i), out);
        if (c === "\r") {
          if (i + 1 < buffer.length) {
            if (buffer[i + 1] === "\n") i++;
          } else skipLeadingLf = true;
        }
        start = i + 1;
      }
      buffer = buffer.slice(start);
      return out;
    },
    get retryMs() {
      return retryMs;
    },
    get lastEventId() {
      return id;
    },
    get comments() {
      return comments;
    },
  };
}
