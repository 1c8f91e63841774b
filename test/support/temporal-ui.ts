// Drives the Temporal web UI in Debian's Chromium (playwright-core, no bundled browser) the
// way ops use it: list workflows by a visibility query, open one, read its event history.
// Selectors lean on what the UI means rather than how it is styled: hrefs that carry the
// workflow id, the history table's "Event Type" column header, the page heading; the
// structure was read off UI 2.42 (Temporal CLI 1.5.1).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { chromiumLaunchArgs, chromiumPath } from '../../src/setup/chromium.js';

/** What the page callbacks read of a DOM element (no DOM lib in tsconfig, so playwright's Element does not resolve here). */
interface PageElement {
  getAttribute(name: string): string | null;
  querySelector(selectors: string): PageElement | null;
  readonly textContent: string | null;
  readonly innerText: string;
}

export interface HistoryEvent {
  readonly eventId: number;
  /** The row's visible text: event type and details, e.g. "Workflow Execution Signaled … Signal Name sourceChanges". */
  readonly text: string;
}

export interface TemporalUiOptions {
  readonly namespace?: string;
  /** Where `screenshot(name)` writes `<name>.png`. */
  readonly screenshotDir: string;
  /** How long one page may take to show what is asked for. */
  readonly timeoutMs?: number;
}

export class TemporalUi {
  private constructor(
    private readonly browser: Browser,
    readonly page: Page,
    readonly baseUrl: string,
    private readonly namespace: string,
    private readonly screenshotDir: string,
    private readonly timeoutMs: number,
  ) {}

  static async launch(baseUrl: string, options: TemporalUiOptions): Promise<TemporalUi> {
    await mkdir(options.screenshotDir, { recursive: true });
    const browser = await chromium.launch({ executablePath: chromiumPath, args: [...chromiumLaunchArgs] });
    try {
      // Wide enough that the UI shows its desktop layout (the history's timestamp column is md+ only).
      const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
      const timeoutMs = options.timeoutMs ?? 15_000;
      page.setDefaultTimeout(timeoutMs);
      return new TemporalUi(browser, page, baseUrl, options.namespace ?? 'default', options.screenshotDir, timeoutMs);
    } catch (error) {
      await browser.close();
      throw error;
    }
  }

  /** Path of the workflow's page in the UI, as the UI itself links it. */
  workflowPath(workflowId: string, runId: string): string {
    return `/namespaces/${encodeURIComponent(this.namespace)}/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}/history`;
  }

  /**
   * The workflow list filtered by a visibility query, exactly as ops type it into the
   * UI (`?query=` is what the UI itself puts in the address). Returns the workflow ids
   * listed once the list has loaded: after the UI's own visibility call has answered,
   * rows or its empty state ("No Results"; the header says "0 Workflows" while loading).
   */
  async listWorkflows(query: string): Promise<string[]> {
    const url = new URL(`/namespaces/${encodeURIComponent(this.namespace)}/workflows`, this.baseUrl);
    url.searchParams.set('query', query);
    return this.listWorkflowsAt(url.toString());
  }

  /** `listWorkflows` for a ready-made list address (e.g. the "find" link `room-sync room` prints). */
  async listWorkflowsAt(url: string): Promise<string[]> {
    const namespacePath = `/namespaces/${encodeURIComponent(this.namespace)}/workflows`;
    const listed = this.page.waitForResponse((response) => {
      const called = new URL(response.url());
      return called.pathname === `/api/v1${namespacePath}` && called.searchParams.has('query');
    });
    await this.page.goto(url);
    const response = await listed;
    if (!response.ok()) throw new Error(`the UI's workflow list call failed: ${response.status()} ${await response.text()}`);
    const empty = this.page.getByText('No Results', { exact: true });
    await this.workflowLinks().first().or(empty).waitFor({ state: 'visible' });
    return this.listedWorkflowIds();
  }

  /** The ids of the workflows the list shows, read from the hrefs of their links. */
  async listedWorkflowIds(): Promise<string[]> {
    const prefix = `/namespaces/${encodeURIComponent(this.namespace)}/workflows/`;
    const hrefs = await this.workflowLinks().evaluateAll((links: PageElement[]) => links.map((link) => link.getAttribute('href') ?? ''));
    const ids = hrefs
      .filter((href) => href.startsWith(prefix))
      .map((href) => href.slice(prefix.length).split('/')[0] ?? '')
      .map((segment) => decodeURIComponent(segment));
    return [...new Set(ids)].sort();
  }

  /** Clicks the workflow's id in the list (as ops would) and waits for its page. */
  async openFromList(workflowId: string): Promise<void> {
    const link = this.page.locator(`a[href*="/workflows/${encodeURIComponent(workflowId)}/"]`).getByText(workflowId, { exact: true });
    await link.first().click();
    await this.waitForWorkflowPage(workflowId);
  }

  /**
   * Opens the workflow's page directly: its run's history with `runId`, else the address
   * without a run (`/workflows/<id>`, what `room-sync room` prints), which the UI resolves
   * to the latest run.
   */
  async openWorkflow(workflowId: string, runId?: string): Promise<void> {
    const path = runId ? this.workflowPath(workflowId, runId) : `/namespaces/${encodeURIComponent(this.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
    await this.openUrl(new URL(path, this.baseUrl).toString(), workflowId);
  }

  /** Opens a link into the UI (e.g. one `room-sync room` prints) that should show the workflow's page. */
  async openUrl(url: string, workflowId: string): Promise<void> {
    await this.page.goto(url);
    await this.waitForWorkflowPage(workflowId);
  }

  private async waitForWorkflowPage(workflowId: string): Promise<void> {
    await this.page.waitForURL((url) => url.pathname.includes(`/workflows/${encodeURIComponent(workflowId)}/`));
    await this.page.getByRole('heading', { name: workflowId, exact: true }).waitFor();
  }

  /**
   * The event history table's rows (the UI's default "All" view) as id and text, oldest
   * first. With `until`, reloads the page (the UI does not always poll a running
   * workflow) until the rows satisfy it or the timeout passes; returns the last rows read.
   */
  async historyEvents(until: (events: readonly HistoryEvent[]) => boolean = () => true): Promise<HistoryEvent[]> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const rows = this.historyRows();
      await rows.first().waitFor();
      const raw = await rows.evaluateAll((elements: PageElement[]) =>
        elements.map((row) => ({
          id: row.getAttribute('data-eventid') ?? row.querySelector('td')?.textContent ?? '',
          text: row.innerText,
        })),
      );
      const events = raw
        .map(({ id, text }) => ({ eventId: Number.parseInt(id.trim(), 10), text: text.replace(/\s+/g, ' ').trim() }))
        .filter((event) => Number.isFinite(event.eventId))
        .sort((a, b) => a.eventId - b.eventId);
      if (until(events) || Date.now() > deadline) return events;
      await this.page.waitForTimeout(500);
      await this.page.reload();
    }
  }

  /** The text of one of the workflow page's tabs ("Search Attributes", "Queries", ...). */
  async tabText(tab: string): Promise<string> {
    await this.page.getByRole('tab', { name: new RegExp(`^${tab}`) }).click();
    await this.page.waitForURL((url) => url.pathname.endsWith(`/${tab.toLowerCase().replace(/\s+/g, '-')}`));
    const main = this.page.locator('main');
    return (await main.innerText()).replace(/\s+/g, ' ');
  }

  /**
   * The page, or only `of` (scrolled into view). The UI scrolls inside its own container,
   * so a full-page shot stops at the viewport: the history table needs `of`.
   */
  async screenshot(name: string, of?: Locator): Promise<string> {
    const path = join(this.screenshotDir, `${name}.png`);
    if (of) await of.screenshot({ path });
    else await this.page.screenshot({ path, fullPage: true });
    return path;
  }

  async close(): Promise<void> {
    await this.browser.close();
  }

  /** Links into a workflow's page; each listed workflow has several (id, run id), all with the id in the href. */
  private workflowLinks(): Locator {
    const prefix = `/namespaces/${encodeURIComponent(this.namespace)}/workflows/`;
    return this.page.locator(`table a[href^="${prefix}"]`);
  }

  /** The table whose header has an "Event Type" column: the event history. */
  historyTable(): Locator {
    return this.page.locator('table').filter({ has: this.page.getByRole('columnheader', { name: 'Event Type' }) });
  }

  private historyRows(): Locator {
    return this.historyTable().locator('tbody tr');
  }
}
