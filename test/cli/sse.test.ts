import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createSseParser } from "../../cli/client/sse.js";

describe("SSE parser", () => {
  test("frames split at any byte boundary parse the same as whole", () => {
    const stream =
      'retry: 2000\n\n: keep-alive\n\nid: 7\nevent: task.progress\ndata: {"a":1}\n\nid: 8\r\nevent: job.succeeded\r\ndata: {"b":\r\ndata: 2}\r\n\r\n';
    const whole = createSseParser().push(stream);
    for (let cut = 1; cut < stream.length; cut++) {
      const parser = createSseParser();
      const frames = [...parser.push(stream.slice(0, cut)), ...parser.push(stream.slice(cut))];
      assert.deepEqual(frames, whole, `cut at ${cut}`);
    }
    assert.deepEqual(whole, [
      { event: "task.progress", data: '{"a":1}', id: "7" },
      { event: "job.succeeded", data: '{"b":\n2}', id: "8" },
    ]);
  });

  test("CR line endings, comments, retry and a persisting id", () => {
    const parser = createSseParser("3");
    const frames = parser.push(":hello\rdata: x\r\rretry: 1500\rid: 4\r\revent: e\rdata:y\r\r");
    assert.deepEqual(frames, [
      { event: "message", data: "x", id: "3" },
      { event: "e", data: "y", id: "4" },
    ]);
    assert.equal(parser.retryMs, 1500);
    assert.equal(parser.lastEventId, "4");
    assert.equal(parser.comments, 1);
  });

  test("a CR at the end of one chunk and the LF at the start of the next end one line", () => {
    const parser = createSseParser();
    assert.deepEqual(parser.push("data: a\r"), []);
    assert.deepEqual(parser.push("\n\r"), [{ event: "message", data: "a", id: undefined }]);
    assert.deepEqual(parser.push("\ndata: b\n\n"), [{ event: "message", data: "b", id: undefined }]);
  });

  test("an incomplete frame waits for its blank line; a frame without data is not dispatched", () => {
    const parser = createSseParser();
    assert.deepEqual(parser.push("id: 1\nevent: x\n\n"), []);
    assert.equal(parser.lastEventId, "1");
    assert.deepEqual(parser.push("data: half"), []);
    assert.deepEqual(parser.push("\n\n"), [{ event: "message", data: "half", id: "1" }]);
  });
});
