// A small stand-in for the `vscode` module: enough of the API for the
// extension and vscode-languageclient to start a real server, with
// recording of what a user would see (status bar, messages, diagnostics).
// Anything not modelled here is a no-op that returns a disposable.

/* eslint-disable @typescript-eslint/no-explicit-any */

type Listener<T> = (e: T) => unknown;

export class EventEmitter<T> {
  private listeners: Listener<T>[] = [];
  event = (listener: Listener<T>): { dispose(): void } => {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class Disposable {
  constructor(private readonly fn: () => void = () => undefined) {}
  static from(...items: Array<{ dispose(): unknown }>): Disposable {
    return new Disposable(() => items.forEach((i) => i?.dispose?.()));
  }
  dispose(): void {
    this.fn();
  }
}

export class Uri {
  constructor(
    readonly scheme: string,
    readonly authority: string,
    readonly path: string,
    readonly query = "",
    readonly fragment = "",
  ) {}
  static parse(value: string): Uri {
    const u = new URL(value);
    return new Uri(u.protocol.replace(/:$/, ""), u.host, decodeURIComponent(u.pathname), u.search.replace(/^\?/, ""), u.hash.replace(/^#/, ""));
  }
  static file(path: string): Uri {
    return new Uri("file", "", path);
  }
  get fsPath(): string {
    return this.path;
  }
  with(change: Partial<Uri>): Uri {
    return new Uri(change.scheme ?? this.scheme, change.authority ?? this.authority, change.path ?? this.path, change.query ?? this.query, change.fragment ?? this.fragment);
  }
  toString(): string {
    return `${this.scheme}://${this.authority}${encodeURI(this.path)}`;
  }
  toJSON(): unknown {
    return { scheme: this.scheme, path: this.path };
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: any, b: any, c?: number, d?: number) {
    if (typeof a === "number") {
      this.start = new Position(a, b);
      this.end = new Position(c as number, d as number);
    } else {
      this.start = a;
      this.end = b;
    }
  }
  contains(p: Position): boolean {
    const after = p.line > this.start.line || (p.line === this.start.line && p.character >= this.start.character);
    const before = p.line < this.end.line || (p.line === this.end.line && p.character <= this.end.character);
    return after && before;
  }
}

export class Selection extends Range {}

export class Diagnostic {
  source?: string;
  code?: unknown;
  tags?: unknown;
  relatedInformation?: unknown;
  constructor(
    public range: Range,
    public message: string,
    public severity = 0,
  ) {}
}

export class CancellationTokenSource {
  private emitter = new EventEmitter<void>();
  token = { isCancellationRequested: false, onCancellationRequested: this.emitter.event };
  cancel(): void {
    this.token.isCancellationRequested = true;
    this.emitter.fire();
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

export class CancellationError extends Error {}
export class ThemeColor {
  constructor(readonly id: string) {}
}
export class MarkdownString {
  constructor(public value = "") {}
}
export class CodeAction {
  edit?: unknown;
  command?: unknown;
  diagnostics?: unknown;
  constructor(
    public title: string,
    public kind?: unknown,
  ) {}
}
export class CodeActionKind {
  constructor(readonly value: string) {}
  static Empty = new CodeActionKind("");
  static QuickFix = new CodeActionKind("quickfix");
  static Refactor = new CodeActionKind("refactor");
  static Source = new CodeActionKind("source");
  append(part: string): CodeActionKind {
    return new CodeActionKind(this.value ? `${this.value}.${part}` : part);
  }
  contains(other: CodeActionKind): boolean {
    return other.value === this.value || other.value.startsWith(`${this.value}.`);
  }
  intersects(other: CodeActionKind): boolean {
    return this.contains(other) || other.contains(this);
  }
}
export class WorkspaceEdit {
  set(): void {}
  entries(): unknown[] {
    return [];
  }
}
export class TextEdit {
  constructor(
    public range: Range,
    public newText: string,
  ) {}
}
export class RelativePattern {
  constructor(
    public base: unknown,
    public pattern: string,
  ) {}
}

export const DiagnosticSeverity = { Error: 0, Warning: 1, Information: 2, Hint: 3 };
export const DiagnosticTag = { Unnecessary: 1, Deprecated: 2 };
export const StatusBarAlignment = { Left: 1, Right: 2 };
export const ProgressLocation = { SourceControl: 1, Window: 10, Notification: 15 };
export const ViewColumn = { Active: -1, Beside: -2, One: 1 };
export const FileType = { Unknown: 0, File: 1, Directory: 2, SymbolicLink: 64 };
export const TextDocumentSaveReason = { Manual: 1, AfterDelay: 2, FocusOut: 3 };
export const CodeActionTriggerKind = { Invoke: 1, Automatic: 2 };
export const TabInputText = class {};
export const TabInputTextDiff = class {};
export const TabInputCustom = class {};
export const version = "1.82.0";

/** What the fake recorded, for the test to look at. */
export const recorded = {
  messages: [] as string[],
  diagnostics: new Map<string, Diagnostic[]>(),
  diagnosticsChanged: new EventEmitter<string>(),
  statusBar: { text: "", tooltip: "" as unknown },
  statusChanged: new EventEmitter<string>(),
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  settings: {} as Record<string, unknown>,
};

const noop = (): Disposable => new Disposable();
const event = (): ((l: unknown) => Disposable) => () => new Disposable();

/** Every `register*Provider` and unknown function: a no-op returning a disposable. */
function lenient<T extends object>(base: T): T {
  return new Proxy(base, {
    get(target, p) {
      if (p in target) return (target as any)[p];
      if (typeof p === "string" && /^(on|register)/.test(p)) return noop;
      return undefined;
    },
  });
}

export const openDocuments = new EventEmitter<any>();
export const textDocuments: any[] = [];
const configurationChanged = new EventEmitter<{ affectsConfiguration(section: string): boolean }>();

/** Sets `key` (e.g. "redline.path"; undefined unsets it) and tells listeners, as VS Code does after a settings edit. */
export function changeSetting(key: string, value: unknown): void {
  if (value === undefined) delete recorded.settings[key];
  else recorded.settings[key] = value;
  configurationChanged.fire({
    affectsConfiguration: (section: string) => key === section || key.startsWith(`${section}.`),
  });
}

export const workspace = lenient({
  workspaceFolders: [] as Array<{ uri: Uri; name: string; index: number }>,
  textDocuments,
  onDidOpenTextDocument: openDocuments.event,
  onDidChangeConfiguration: configurationChanged.event,
  getConfiguration(section?: string) {
    const get = (key: string): unknown => recorded.settings[section ? `${section}.${key}` : key];
    return {
      get: (key: string, fallback?: unknown) => get(key) ?? fallback,
      has: (key: string) => get(key) !== undefined,
      inspect: (key: string) => ({ key, globalValue: get(key) }),
      update: async () => undefined,
    };
  },
  createFileSystemWatcher: () => ({ ...new Disposable(), onDidCreate: event(), onDidChange: event(), onDidDelete: event(), dispose() {} }),
  applyEdit: async () => true,
  openTextDocument: async () => ({}),
});

export const window = lenient({
  activeTextEditor: undefined as unknown,
  visibleTextEditors: [] as unknown[],
  tabGroups: { all: [], onDidChangeTabs: event(), onDidChangeTabGroups: event() },
  createOutputChannel(name: string) {
    return { name, append() {}, appendLine() {}, replace() {}, clear() {}, show() {}, hide() {}, dispose() {} };
  },
  createStatusBarItem() {
    return new Proxy(
      { show() {}, hide() {}, dispose() {} } as Record<string, unknown>,
      {
        set(target, p, value) {
          target[p as string] = value;
          if (p === "text" || p === "tooltip") {
            (recorded.statusBar as any)[p] = value;
            if (p === "text") recorded.statusChanged.fire(value);
          }
          return true;
        },
      },
    );
  },
  showInformationMessage: async (m: string) => void recorded.messages.push(`info: ${m}`),
  showWarningMessage: async (m: string) => void recorded.messages.push(`warning: ${m}`),
  showErrorMessage: async (m: string) => void recorded.messages.push(`error: ${m}`),
  withProgress: async (_o: unknown, task: (p: unknown, t: unknown) => Promise<unknown>) =>
    task({ report() {} }, new CancellationTokenSource().token),
  showTextDocument: async () => undefined,
  showInputBox: async () => undefined,
});

export const languages = lenient({
  match(selector: any, doc: any): number {
    const list = Array.isArray(selector) ? selector : [selector];
    return list.some((s: any) => s === "*" || s.scheme === undefined || s.scheme === doc.uri.scheme) ? 10 : 0;
  },
  createDiagnosticCollection(name?: string) {
    const own = new Map<string, Diagnostic[]>();
    return {
      name,
      set(uri: Uri, diags: Diagnostic[] | undefined) {
        own.set(uri.toString(), diags ?? []);
        recorded.diagnostics.set(uri.toString(), diags ?? []);
        recorded.diagnosticsChanged.fire(uri.toString());
      },
      delete(uri: Uri) {
        own.delete(uri.toString());
      },
      get: (uri: Uri) => own.get(uri.toString()),
      has: (uri: Uri) => own.has(uri.toString()),
      forEach() {},
      clear() {
        own.clear();
      },
      dispose() {},
    };
  },
  getDiagnostics: (uri: Uri) => recorded.diagnostics.get(uri.toString()) ?? [],
});

export const commands = lenient({
  registerCommand(id: string, fn: (...args: unknown[]) => unknown) {
    recorded.commands.set(id, fn);
    return new Disposable(() => recorded.commands.delete(id));
  },
  async executeCommand(id: string, ...args: unknown[]) {
    const fn = recorded.commands.get(id);
    return fn ? fn(...args) : undefined;
  },
});

export const env = lenient({
  appName: "fake-vscode",
  language: "en",
  machineId: "test",
  sessionId: "test",
  openExternal: async () => true,
});

export const extensions = lenient({ all: [] as unknown[] });

// Base classes the language client extends at load time.
export class CallHierarchyItem {}
export class CodeLens {}
export class CompletionItem {}
export class DocumentLink {}
export class InlayHint {}
export class SymbolInformation {}
export class TypeHierarchyItem {}
