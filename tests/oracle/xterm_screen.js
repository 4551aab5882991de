// The reference emulator for relay.terminal: xterm.js headless (the emulator behind
// VS Code's terminal) with the Unicode 11 widths addon.
//
// One request per line on stdin, one JSON answer per line on stdout, so that a test
// session starts node once:
//   {"cols": 80, "rows": 24, "scrollback": 1000, "data": "<base64>", "ignoreOsc8": true}
// or, for output between PTY size changes, "steps" instead of "data" (see answer()).
// The data is written in ONE write() call: xterm.js 6 drops a UTF-8 character whose
// bytes are split across writes after its first two bytes.
//
// The answer: the normal buffer (rows of cells, its scrollback lines), the alternate
// one while it is active (xterm.js clears it whenever it is shown), which is active, the cursor (x may equal cols: the pending-wrap state), the
// modes, the title and what the terminal answered to queries (onData).
// A cell is [chars, width, fg, bg, flags]; fg/bg are null (default), a palette index,
// or "#rrggbb"; flags is a string of letters: b bold, d dim, i italic, u underline,
// k blink, r inverse, h invisible, s strikethrough.
// With "bench": true (and "chunk", "runs") the answer is only {"seconds": [...], "cpu":
// [...]}: how long feeding the data in chunks took, measured by this process around its
// own writes, in wall-clock and CPU seconds (the baseline of bench/terminal_feed.py). Chunks end on UTF-8 character boundaries.
'use strict';

const readline = require('readline');
const { Terminal } = require('@xterm/headless');
const { Unicode11Addon } = require('@xterm/addon-unicode11');

function colour(mode, value, isRGB, isPalette) {
  if (isRGB) return '#' + value.toString(16).padStart(6, '0');
  if (isPalette) return value;
  return null;
}

function cellOf(cell) {
  let flags = '';
  if (cell.isBold()) flags += 'b';
  if (cell.isDim()) flags += 'd';
  if (cell.isItalic()) flags += 'i';
  if (cell.isUnderline()) flags += 'u';
  if (cell.isBlink()) flags += 'k';
  if (cell.isInverse()) flags += 'r';
  if (cell.isInvisible()) flags += 'h';
  if (cell.isStrikethrough()) flags += 's';
  return [
    cell.getChars(),
    cell.getWidth(),
    colour(cell.getFgColorMode(), cell.getFgColor(), cell.isFgRGB(), cell.isFgPalette()),
    colour(cell.getBgColorMode(), cell.getBgColor(), cell.isBgRGB(), cell.isBgPalette()),
    flags,
  ];
}

function linesOf(buffer, from, to, cols) {
  const lines = [];
  const cell = buffer.getNullCell();
  for (let y = from; y < to; y++) {
    const line = buffer.getLine(y);
    const cells = [];
    for (let x = 0; line && x < cols; x++) {
      cells.push(cellOf(line.getCell(x, cell)));
    }
    lines.push(cells);
  }
  return lines;
}

function bufferOf(buffer, rows, cols) {
  return {
    history: linesOf(buffer, 0, buffer.baseY, cols),
    screen: linesOf(buffer, buffer.baseY, buffer.baseY + rows, cols),
  };
}

// The benchmark's baseline: a fresh terminal per run, fed the chunks in write() calls
// one after the other; the time from the first write to the last write's callback.
function bench(request, done) {
  const data = Buffer.from(request.data, 'base64');
  const chunk = request.chunk || 4096;
  const chunks = [];
  for (let i = 0; i < data.length;) {
    let end = Math.min(i + chunk, data.length);
    while (end < data.length && end > i + 1 && (data[end] & 0xc0) === 0x80) end--;
    chunks.push(data.subarray(i, end));
    i = end;
  }
  const seconds = [];
  const cpu = [];
  const run = () => {
    if (seconds.length === (request.runs || 1)) {
      done({ seconds, cpu });
      return;
    }
    const term = new Terminal({ cols: request.cols, rows: request.rows, scrollback: request.scrollback ?? 1000, allowProposedApi: true, logLevel: 'off' });
    term.loadAddon(new Unicode11Addon());
    term.unicode.activeVersion = '11';
    const started = process.hrtime.bigint();
    const startedCpu = process.cpuUsage();
    for (let i = 0; i < chunks.length - 1; i++) term.write(chunks[i]);
    term.write(chunks[chunks.length - 1], () => {
      seconds.push(Number(process.hrtime.bigint() - started) / 1e9);
      const used = process.cpuUsage(startedCpu);
      cpu.push((used.user + used.system) / 1e6);
      term.dispose();
      setImmediate(run);
    });
  };
  run();
}

function answer(request, done) {
  if (request.bench) {
    bench(request, done);
    return;
  }
  const term = new Terminal({
    cols: request.cols,
    rows: request.rows,
    scrollback: request.scrollback ?? 1000,
    allowProposedApi: true,
    logLevel: 'off',
  });
  term.loadAddon(new Unicode11Addon());
  term.unicode.activeVersion = '11';
  const replies = [];
  let title = '';
  if (request.ignoreOsc8) {
    // the model keeps no hyperlinks (docs/terminal.md, deviation osc8-links)
    term.parser.registerOscHandler(8, () => true);
  }
  term.onData((data) => replies.push(data));
  term.onTitleChange((value) => { title = value; });
  // "steps": [{"data": "<base64>"} or {"resize": [cols, rows]}, ...] instead of "data":
  // writes and resizes in that order (a PTY whose size changes between outputs).
  const steps = request.steps || [{ data: request.data }];
  const step = (i) => {
    if (i === steps.length) {
      finish();
    } else if (steps[i].resize) {
      term.resize(steps[i].resize[0], steps[i].resize[1]);
      step(i + 1);
    } else {
      term.write(Buffer.from(steps[i].data, 'base64'), () => step(i + 1));
    }
  };
  const finish = () => {
    const cols = term.cols;
    const rows = term.rows;
    const core = term._core;
    const active = term.buffer.active;
    const raw = core.buffer;  // the active buffer's internals: x may be cols (pending wrap)
    const modes = term.modes;
    done({
      active: active.type,
      cursor: [raw.x, raw.y],
      cursorHidden: core.coreService.isCursorHidden,
      normal: bufferOf(term.buffer.normal, rows, cols),
      // xterm.js clears the alternate buffer whenever it is shown: only the active one counts
      alternate: active.type === 'alternate' ? bufferOf(active, rows, cols) : null,
      modes: {
        applicationCursorKeys: modes.applicationCursorKeysMode,
        applicationKeypad: modes.applicationKeypadMode,
        bracketedPaste: modes.bracketedPasteMode,
        insert: modes.insertMode,
        mouseTracking: modes.mouseTrackingMode,
        mouseEncoding: core.coreMouseService.activeEncoding,
        origin: modes.originMode,
        sendFocus: modes.sendFocusMode,
        wraparound: modes.wraparoundMode,
      },
      title,
      replies: replies.join(''),
    });
    term.dispose();
  };
  step(0);
}

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const queue = [];
let busy = false;

function next() {
  if (busy || queue.length === 0) return;
  busy = true;
  const line = queue.shift();
  let request;
  try {
    request = JSON.parse(line);
  } catch (error) {
    process.stdout.write(JSON.stringify({ error: String(error) }) + '\n');
    busy = false;
    next();
    return;
  }
  answer(request, (result) => {
    process.stdout.write(JSON.stringify(result) + '\n');
    busy = false;
    next();
  });
}

input.on('line', (line) => { queue.push(line); next(); });
