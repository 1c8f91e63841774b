/**
 * No stack traces in workflow code. The SDK's promise hook builds an Error and source-maps its
 * stack for every promise workflow code creates, and keeps it while the promise is pending (for
 * the `__stack_trace` query): some 23 KB of every cached run, 46 MiB with 2,000 cached; the CPU
 * was the same within the noise (docs/cost-levers.md, row 5). With no frames to capture there
 * is nothing to map or keep. The price: an error raised in workflow code carries its message without a stack
 * (activity errors keep theirs), and the UI's stack-trace tab is empty; `room-sync replay` under
 * a debugger shows where a run stopped.
 *
 * Set while the worker preloads this module into the shared workflow context, before the SDK
 * freezes that context's globals; a context that froze them already keeps its setting.
 */
if (!Object.isFrozen(Error)) Error.stackTraceLimit = 0;
