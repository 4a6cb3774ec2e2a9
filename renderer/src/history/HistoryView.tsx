import { useCallback, useEffect, useRef, useState } from 'react';
import type { GenerationMode, GenerationRecord, GenerationStatus, GenerationSummary, ImageRef, LibrarySearchQueryInput, LineageResult } from '../../../app/contract/index.js';
import { libraryImageUrl } from '../api/media.js';
import { useStudio, useUi } from '../state/context.js';
import { type DocumentSession } from '../state/document.js';
import { errorMessage } from '../state/studio.js';
import { IterationTree } from './IterationTree.js';
import { recallEntry } from './recall.js';
import { restoreBranch } from './branches.js';
import { sdxlParams } from './sdxl-params.js';
import { cellPosition, gridWindow } from './window.js';

const CELL = 148;
const GAP = 8;
const PAGE = 200;

/** Which runs the grid lists: by default what made pictures, failed and cancelled runs on request. */
const STATUS_FILTERS: Record<string, { label: string; statuses?: GenerationStatus[] }> = {
  made: { label: 'made and imported', statuses: ['completed', 'imported'] },
  all: { label: 'all runs' },
  failed: { label: 'failed and cancelled', statuses: ['failed', 'cancelled'] },
};

interface Filters {
  text: string;
  mode: GenerationMode | '';
  status: keyof typeof STATUS_FILTERS;
  favourite: boolean;
  model: string;
}

/**
 * The history: full-text search with filters over the library, a windowed thumbnail grid
 * (only the visible rows are mounted; pages load as you scroll), a detail view with every
 * parameter, recall, and lineage.
 */
export function HistoryView({ session }: { session: DocumentSession }) {
  const studio = useStudio();
  const [filters, setFilters] = useState<Filters>({ text: '', mode: '', status: 'made', favourite: false, model: '' });
  // Pages of results by page number: scrolling far loads only the pages in view.
  const [pages, setPages] = useState<ReadonlyMap<number, GenerationSummary[]>>(new Map());
  const [total, setTotal] = useState(0);
  const [selected, setSelected] = useState<string | null>(null);
  const [scroll, setScroll] = useState({ top: 0, width: 800, height: 600 });
  const scroller = useRef<HTMLDivElement>(null);
  const loading = useRef(new Set<number>());

  const query = useCallback(
    (offset: number): LibrarySearchQueryInput => ({
      text: filters.text,
      limit: PAGE,
      offset,
      sort: filters.text.trim() ? 'relevance' : 'newest',
      ...(filters.mode ? { mode: filters.mode } : {}),
      ...(STATUS_FILTERS[filters.status]?.statuses ? { statuses: STATUS_FILTERS[filters.status]!.statuses } : {}),
      ...(filters.favourite ? { favourite: true } : {}),
      ...(filters.model.trim() ? { model: filters.model.trim() } : {}),
    }),
    [filters],
  );

  // Answers to an older query must not land in the new one's pages.
  const activeQuery = useRef(query);
  useEffect(() => {
    activeQuery.current = query;
    let live = true;
    const timer = setTimeout(() => {
      studio.api.call('library.search', query(0)).then(
        (result) => {
          if (!live) return;
          loading.current.clear();
          setPages(new Map([[0, result.items]]));
          setTotal(result.total);
        },
        (error: unknown) => live && studio.toast('error', `History search failed: ${errorMessage(error)}`),
      );
    }, 150);
    const off = studio.api.subscribe((event) => {
      if (event.type === 'library.changed') {
        studio.api.call('library.search', query(0)).then(
          (result) => {
            if (!live) return;
            loading.current.clear();
            setPages(new Map([[0, result.items]]));
            setTotal(result.total);
          },
          // A refresh that fails keeps the page as it is; the next change or scroll asks again.
          () => undefined,
        );
      }
    });
    return () => {
      live = false;
      clearTimeout(timer);
      off();
    };
  }, [query, studio]);

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const measure = () => setScroll({ top: el.scrollTop, width: el.clientWidth, height: el.clientHeight });
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  const win = gridWindow({ count: total, width: scroll.width, height: scroll.height, scrollTop: scroll.top, cellSize: CELL, gap: GAP });

  // Load the pages the window shows that are not here yet.
  useEffect(() => {
    const firstPage = Math.floor(win.first / PAGE);
    const lastPage = Math.floor(Math.max(win.first, win.last - 1) / PAGE);
    for (let page = firstPage; page <= lastPage; page++) {
      if (pages.has(page) || loading.current.has(page) || page * PAGE >= total) continue;
      loading.current.add(page);
      studio.api.call('library.search', query(page * PAGE)).then(
        (result) => {
          if (activeQuery.current === query) setPages((prev) => new Map(prev).set(page, result.items));
        },
        (error: unknown) => {
          loading.current.delete(page);
          studio.toast('error', `History search failed: ${errorMessage(error)}`);
        },
      );
    }
  }, [win.first, win.last, pages, total, query, studio]);

  const cells = [];
  for (let i = win.first; i < win.last; i++) {
    const item = pages.get(Math.floor(i / PAGE))?.[i % PAGE];
    if (!item) continue;
    const pos = cellPosition(i, win.columns, win.pitch);
    const thumb = item.candidates[0];
    cells.push(
      <button
        key={item.id}
        type="button"
        className={`history-cell${selected === item.id ? ' selected' : ''}`}
        style={{ left: pos.left, top: pos.top, width: CELL, height: CELL }}
        data-testid="history-cell"
        data-generation-id={item.id}
        data-index={i}
        onClick={() => setSelected(item.id)}
        title={item.prompt}
      >
        {thumb ? <img src={libraryImageUrl(thumb.sha256)} alt="" loading="lazy" decoding="async" /> : <span className="no-image">{item.status}</span>}
        <span className="badge">
          {item.mode === 'txt2img' ? '' : `${item.mode} · `}
          {item.candidates.length}
        </span>
      </button>,
    );
  }

  return (
    <div className="history" data-testid="history">
      <div className="history-main">
        <form className="history-filters" role="search" onSubmit={(e) => e.preventDefault()}>
          <input type="search" aria-label="Search prompts" placeholder='Search prompts: words, "phrases", prefix*, -exclude' data-testid="history-search" value={filters.text} onChange={(e) => setFilters({ ...filters, text: e.target.value })} />
          <select aria-label="Mode" data-testid="history-mode" value={filters.mode} onChange={(e) => setFilters({ ...filters, mode: e.target.value as GenerationMode | '' })}>
            <option value="">all modes</option>
            <option value="txt2img">txt2img</option>
            <option value="img2img">img2img</option>
            <option value="inpaint">inpaint</option>
          </select>
          <select aria-label="Status" data-testid="history-status" value={filters.status} onChange={(e) => setFilters({ ...filters, status: e.target.value })}>
            {Object.entries(STATUS_FILTERS).map(([value, f]) => (
              <option key={value} value={value}>
                {f.label}
              </option>
            ))}
          </select>
          <input aria-label="Model" placeholder="model" value={filters.model} onChange={(e) => setFilters({ ...filters, model: e.target.value })} />
          <label className="check">
            <input type="checkbox" checked={filters.favourite} onChange={(e) => setFilters({ ...filters, favourite: e.target.checked })} /> favourites
          </label>
          <span className="muted" data-testid="history-total">
            {total} {total === 1 ? 'entry' : 'entries'}
          </span>
        </form>
        <div className="history-scroll" ref={scroller} onScroll={(e) => setScroll({ top: e.currentTarget.scrollTop, width: e.currentTarget.clientWidth, height: e.currentTarget.clientHeight })} data-testid="history-grid">
          <div className="history-sizer" style={{ height: win.totalHeight }}>
            {cells}
          </div>
        </div>
      </div>
      {selected && <HistoryDetail id={selected} session={session} onSelect={setSelected} onClose={() => setSelected(null)} />}
    </div>
  );
}

function HistoryDetail({ id, session, onSelect, onClose }: { id: string; session: DocumentSession; onSelect: (id: string) => void; onClose: () => void }) {
  const studio = useStudio();
  const models = useUi((s) => s.models);
  const [record, setRecord] = useState<GenerationRecord | null>(null);
  const [lineage, setLineage] = useState<LineageResult | null>(null);
  // Whether the library kept the document this entry ran from (docs/canvas.md, "Branches").
  const [keptFor, setKeptFor] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    studio.api.call('library.snapshot', { id }).then(
      (s) => live && setKeptFor(s ? id : null),
      // Without a kept document (imports, older entries) Recall still works: nothing to say.
      () => live && setKeptFor(null),
    );
    studio.api.call('library.get', { id }).then(
      (r) => live && setRecord(r),
      (error: unknown) => studio.toast('error', `Could not open the entry: ${errorMessage(error)}`),
    );
    studio.api.call('library.lineage', { id }).then(
      (l) => live && setLineage(l),
      () => live && setLineage(null),
    );
    return () => {
      live = false;
    };
  }, [id, studio]);
  if (!record) return <aside className="history-detail">Loading…</aside>;
  const recall = async (candidateId?: string) => {
    await recallEntry(studio, session, candidateId ?? record.id);
  };
  const params: Array<[string, unknown]> = [
    ['prompt', record.prompt],
    ['negative prompt', record.negativePrompt],
    ['mode', record.mode],
    ['model', record.modelName ?? record.model],
    ['model hash', record.modelHash],
    // A VAE chosen for the run instead of the model's own (docs/models.md, "VAE swap").
    ['VAE', record.request?.vae],
    ...sdxlParams(record.request, models),
    ['sampler', record.sampler],
    ['steps', record.steps],
    ['CFG', record.cfg],
    ['seed', record.seed],
    ['seed mode', record.seedMode],
    ['size', record.width && record.height ? `${record.width}×${record.height}` : null],
    ['strength', record.strength],
    ['control', record.hasControl ? 'yes' : 'no'],
    ['device', record.device],
    ['status', record.status],
    ['source', record.source],
    ['created', record.createdAt],
    ['app version', record.appVersion],
    ['tags', record.tags.join(', ')],
    ['error', record.error],
    ['note', record.importNote],
  ];
  return (
    <aside className="history-detail" data-testid="history-detail" aria-label="History entry">
      <div className="row">
        <h2>Entry</h2>
        <span className="spacer" />
        <button type="button" data-testid="recall" onClick={() => void recall()}>
          Recall onto the canvas
        </button>
        {keptFor === record.id && (
          <button
            type="button"
            data-testid="restore-document"
            title="The canvas as it was when this ran — layers, masks, controls, regions, frame — as a new branch (one undo step)"
            onClick={() => void restoreBranch(studio, session, record.id)}
          >
            Restore its canvas
          </button>
        )}
        <button type="button" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </div>
      <ul className="detail-candidates">
        {record.candidates.map((c) => (
          <li key={c.id}>
            <img src={libraryImageUrl(c.sha256)} alt={`Seed ${c.seed ?? '?'}`} />
            <button type="button" onClick={() => void recall(c.id)}>
              Recall #{c.seed ?? '?'}
            </button>
          </li>
        ))}
      </ul>
      <EntryInputs request={record.request} />
      <table className="params" data-testid="history-params">
        <tbody>
          {params
            .filter(([, v]) => v !== null && v !== undefined && v !== '')
            .map(([k, v]) => (
              <tr key={k}>
                <th>{k}</th>
                <td>{String(v)}</td>
              </tr>
            ))}
          {Object.entries(record.timings).map(([k, v]) => (
            <tr key={`t-${k}`}>
              <th>{k} (ms)</th>
              <td>{Math.round(v)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {lineage && (
        <IterationTree
          lineage={lineage}
          self={{ generationId: record.id, parentCandidateId: record.parentCandidateId, prompt: record.prompt, mode: record.mode, createdAt: record.createdAt, candidateIds: record.candidates.map((c) => c.id) }}
          onSelect={onSelect}
        />
      )}
    </aside>
  );
}

/** The images the entry used: init, mask and control maps, from the library by hash. */
function EntryInputs({ request }: { request: GenerationRecord['request'] }) {
  if (!request) return null;
  const hash = (ref: ImageRef | undefined) => (ref && 'sha256' in ref ? ref.sha256 : undefined);
  const inputs: Array<{ key: string; label: string; sha256: string }> = [];
  const init = hash(request.init);
  if (init) inputs.push({ key: 'init', label: 'init image', sha256: init });
  const mask = hash(request.inpaint?.mask);
  if (mask) inputs.push({ key: 'mask', label: 'mask', sha256: mask });
  request.controls.forEach((c, i) => {
    const sha = hash(c.image);
    if (sha) inputs.push({ key: `control${i}`, label: `${c.type} control · ${c.weight}`, sha256: sha });
  });
  if (inputs.length === 0) return null;
  return (
    <ul className="detail-inputs" data-testid="history-inputs">
      {inputs.map((input) => (
        <li key={input.key} data-testid={`input-${input.key.replace(/\d+$/, '')}`}>
          <img src={libraryImageUrl(input.sha256)} alt={input.label} />
          <span className="muted">{input.label}</span>
        </li>
      ))}
    </ul>
  );
}
