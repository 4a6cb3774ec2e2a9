import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DeviceChoice, ModelInfo } from '../../contract/index.js';
import type { LoadedModel, LoadOptions } from '../pipeline/types.js';
import { InvalidModelError } from './errors.js';
import { readControlNetLayout, readModelLayout, type ControlNetLayout, type GraphIO, type ModelLayout } from './layout.js';
import { keepsTensorsOnDevice, openSession, openSessionFromBytes, sessionTuning, type Session } from './session.js';
import { splitControlNetHint } from './controlnet-hint.js';
import { upcastFloat16Graph } from './upcast.js';

/** The session-map key suffix of a graph rewritten to float32. */
const UPCAST = '#float32';

export interface LoadedControlNet {
  layout: ControlNetLayout;
  /** The ControlNet; with `hint`, its main part, which takes `hint.outputs` in place of the conditioning image. */
  session: Session;
  /** The conditioning-image path split off (controlnet-hint.ts): run once per run, not every step. */
  hint?: { session: Session; outputs: string[] };
  /**
   * WebGPU: `session` leaves its residuals on the device, for the UNet to take as they are
   * (docs/engine.md, "Tensors on the device"); reading them in JavaScript needs a download.
   */
  deviceOutputs: boolean;
}

/**
 * A model folder with its sessions open on one device. Sessions open lazily on first use
 * after loading (the VAE encoder, the ControlNet UNet and ControlNets are needed only by
 * some requests) and live until release().
 */
export class EngineModel implements LoadedModel {
  readonly layout: ModelLayout;
  readonly device: string;
  private readonly sessions = new Map<string, Promise<Session>>();
  private readonly controlnets = new Map<string, Promise<LoadedControlNet>>();
  private readonly refiners = new Map<string, Promise<EngineModel>>();
  private released = false;
  /**
   * Graphs opened for one phase of a run and closed after it (SDXL: the text encoders after
   * encoding, the VAE only to encode or decode), so that their weights and ONNX Runtime's
   * arena are not held while the UNet runs. The price is opening them again on every run.
   */
  readonly transient: ReadonlySet<string>;

  constructor(layout: ModelLayout, device: string, opened: Map<string, Session>, transient: ReadonlySet<string> = new Set()) {
    this.layout = layout;
    this.device = device;
    this.transient = transient;
    for (const [file, session] of opened) this.sessions.set(file, Promise.resolve(session));
  }

  /** A phase is done with a graph: a transient one is closed (reopened when next needed). */
  async done(file: string): Promise<void> {
    if (!this.transient.has(file)) return;
    for (const key of [file, `${file}${UPCAST}`]) {
      const s = this.sessions.get(key);
      if (!s) continue;
      this.sessions.delete(key);
      // As in release(): a session that failed to open or to free holds nothing to free now.
      await s.then((x) => x.release()).catch(() => undefined);
    }
  }

  get info(): ModelInfo {
    // The ones the folder ships (found at inspect), then any other opened by folder.
    return { ...this.layout.info, controlnets: [...new Set([...this.layout.info.controlnets, ...this.controlnets.keys()])] };
  }

  /**
   * The session for one of this model's graphs (absolute path); `upcast`: the float16 graph
   * rewritten to float32 (force_upcast, model/upcast.ts), kept under its own key.
   */
  session(file: string, part: string, upcast = false): Promise<Session> {
    if (this.released) throw new Error('model was released');
    const key = upcast ? `${file}${UPCAST}` : file;
    let s = this.sessions.get(key);
    if (!s) {
      s = upcast ? Promise.resolve().then(() => openSessionFromBytes(upcastFloat16Graph(file, part), part, this.device)) : openSession(file, part, this.device).then((o) => o.session);
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  /** A ControlNet by folder, opened once, checked against this model's UNet. */
  controlnet(dir: string): Promise<LoadedControlNet> {
    const key = path.resolve(dir);
    let c = this.controlnets.get(key);
    if (!c) {
      c = openControlNet(key, this.device, this.layout);
      this.controlnets.set(key, c);
      c.catch(() => this.controlnets.delete(key));
    }
    return c;
  }

  /** An SDXL refiner by folder, loaded once on this model's device and released with it. */
  refiner(dir: string): Promise<EngineModel> {
    const key = path.resolve(dir);
    let r = this.refiners.get(key);
    if (!r) {
      r = openRefiner(key, this.device, this.layout);
      this.refiners.set(key, r);
      r.catch(() => this.refiners.delete(key));
    }
    return r;
  }

  async release(): Promise<void> {
    this.released = true;
    const refiners = [...this.refiners.values()];
    this.refiners.clear();
    // Best effort, as below: one that failed to load holds nothing.
    await Promise.all(refiners.map((p) => p.then((m) => m.release()).catch(() => undefined)));
    const all = [...this.sessions.values(), ...[...this.controlnets.values()].flatMap((c) => [c.then((x) => x.session), c.then((x) => x.hint?.session ?? noSession)])];
    this.sessions.clear();
    this.controlnets.clear();
    // Releasing is best effort: a session that never finished loading, or whose native
    // release fails, holds nothing more we could free, and the other sessions still go.
    await Promise.all(all.map((p) => p.then((s) => s.release()).catch(() => undefined)));
  }
}

async function openControlNet(dir: string, device: string, model: ModelLayout): Promise<LoadedControlNet> {
  const sessions = new Map<string, Session>();
  // read without graph optimisation: the session that runs is the split parts' (or, when the
  // graph stays whole, one opened for running below), so optimising this one would be wasted
  const read = async (file: string, part: string): Promise<GraphIO> => {
    const { session } = await openSession(file, part, device, [], false);
    sessions.set(file, session);
    return { inputs: session.inputMetadata, outputs: session.outputMetadata };
  };
  const layout = await readControlNetLayout(dir, read);
  const session = sessions.get(layout.file)!;
  try {
    const unet = model.unet.downResidualNames.length > 0 ? model.unet : model.controlUnet;
    const name = path.basename(dir);
    if (!unet) throw new InvalidModelError('unet/model.onnx', `model ${path.basename(model.dir)} has no UNet that accepts ControlNet residuals (ControlNet ${name} cannot be used with it)`);
    if (layout.hiddenDim !== model.textDim) {
      throw new InvalidModelError(name, `ControlNet ${name} expects text width ${layout.hiddenDim} but the model's text encoder gives ${model.textDim} (SD1, SD2 and SDXL ControlNets are not interchangeable)`);
    }
    if ((layout.added !== undefined) !== (model.sdxl !== undefined)) {
      throw new InvalidModelError(name, `ControlNet ${name} is ${layout.added ? '' : 'not '}an SDXL ControlNet (text_embeds/time_ids inputs) but the model is ${model.sdxl ? '' : 'not '}SDXL`);
    }
    if (layout.downOutputNames.length !== unet.downResidualNames.length) {
      throw new InvalidModelError(name, `ControlNet ${name} gives ${layout.downOutputNames.length} down-block residuals but ${unet.part} takes ${unet.downResidualNames.length}`);
    }
  } catch (error) {
    await session.release();
    throw error;
  }
  const split = await splitHint(layout, device, session);
  if (split) return split;
  await session.release();
  const deviceOutputs = keepsTensorsOnDevice(device);
  return { layout, session: (await openSession(layout.file, graphPart(layout), device, [], true, { ...sessionTuning(), deviceOutputs })).session, deviceOutputs };
}

/** "folder/model.onnx" (or "folder/controlnet/model.onnx"), as readControlNetLayout names the graph in errors. */
const graphPart = (layout: ControlNetLayout): string => `${path.basename(layout.dir)}/${path.relative(layout.dir, layout.file).split(path.sep).join('/')}`;

/** A session that holds nothing, for release() of a ControlNet without a hint part. */
const noSession = { release: async () => undefined };

/**
 * The ControlNet as its hint and main parts (controlnet-hint.ts), releasing the session that
 * read the whole graph, or undefined where the graph cannot be split or a part does not open on
 * this device (the caller then runs the graph whole).
 */
async function splitHint(layout: ControlNetLayout, device: string, whole: Session): Promise<LoadedControlNet | undefined> {
  let split: ReturnType<typeof splitControlNetHint>;
  try {
    split = splitControlNetHint(layout.file, layout.condName);
  } catch {
    // a graph protobufjs cannot read whole still runs as it is (ORT read it already)
    return undefined;
  }
  if (!split) return undefined;
  const part = graphPart(layout);
  const parts = await Promise.allSettled([openSessionFromBytes(split.hint, `${part} (conditioning path)`, device), openSessionFromBytes(split.main, part, device, keepsTensorsOnDevice(device))]);
  const [hint, main] = parts.map((p) => (p.status === 'fulfilled' ? p.value : undefined));
  if (!hint || !main) {
    await Promise.all([hint?.release(), main?.release()]);
    return undefined;
  }
  await whole.release();
  return { layout, session: main, hint: { session: hint, outputs: split.outputs }, deviceOutputs: keepsTensorsOnDevice(device) };
}

/** Bytes of the graphs and their external weights in a model folder's first-level parts. */
function folderWeights(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    for (const name of ['model.onnx', 'model.onnx_data', 'weights.pb']) {
      const file = path.join(dir, entry.name, name);
      if (fs.existsSync(file)) total += fs.statSync(file).size;
    }
  }
  return total;
}

/** A refiner for `base`: an SDXL model with a 4-channel UNet and the same latent scale. */
async function openRefiner(dir: string, device: string, base: ModelLayout): Promise<EngineModel> {
  const refiner = await loadModel(dir, { device: device as DeviceChoice });
  const name = path.basename(dir);
  try {
    if (!base.sdxl || !refiner.layout.sdxl) throw new InvalidModelError(name, `the base → refiner hand-off needs two SDXL models; ${base.sdxl ? name : path.basename(base.dir)} is not SDXL`);
    if (refiner.layout.unet.inChannels !== 4) throw new InvalidModelError(name, `refiner ${name} takes ${refiner.layout.unet.inChannels} channels; a refiner takes 4`);
    if (refiner.layout.vaeScaleFactor !== base.vaeScaleFactor) throw new InvalidModelError(name, `refiner ${name} has another VAE scale (${refiner.layout.vaeScaleFactor}) than the base (${base.vaeScaleFactor})`);
    return refiner;
  } catch (error) {
    await refiner.release();
    throw error;
  }
}

/** Opens every graph a text-to-image run needs and detects what the model is. */
export async function loadModel(dir: string, opts: LoadOptions): Promise<EngineModel> {
  const device: DeviceChoice = opts.device;
  const opened = new Map<string, Session>();
  const fallbacks: string[] = [];
  // Graphs the builder wrote that the provider runs in float16 (model/provider-graph.ts), and why any did not.
  const float16: string[] = [];
  const precision: string[] = [];
  let chosen: string | undefined;
  // An SDXL folder's text encoders and VAE may be transient (EngineModel.transient): then they
  // are read here for their metadata and closed at once, so that loading never holds them all
  // with the UNet.
  const xl = fs.existsSync(path.join(path.resolve(dir), 'text_encoder_2', 'model.onnx'));
  const weights = xl ? folderWeights(dir) : 0;
  const phased = xl && (opts.phaseSessions ?? weights > os.totalmem() / 4);
  const read = async (file: string, part: string): Promise<GraphIO> => {
    const phaseOnly = phased && /^(text_encoder(_2)?|vae_encoder|vae_decoder|unet[^/]*)\//.test(part);
    // The first graph decides the device for `auto`; the rest open on the same one.
    const { session, device: used, graph } = await openSession(file, part, chosen ?? device, fallbacks, !phaseOnly);
    chosen = used;
    if (graph.compute) float16.push(part);
    if (graph.note) precision.push(`${part}: ${graph.note}`);
    const io = { inputs: session.inputMetadata, outputs: session.outputMetadata };
    if (phaseOnly) await session.release();
    else opened.set(file, session);
    return io;
  };
  let layout: ModelLayout;
  try {
    layout = await readModelLayout(dir, read);
  } catch (error) {
    await Promise.all([...opened.values()].map((s) => s.release()));
    throw error;
  }
  // Graphs opened only to look at them (subfolders searched for a ControlNet-ready UNet that
  // turned out not to be one) are closed again.
  // SDXL's text encoders and VAE are opened for their phase of each run only (docs/engine.md, "Memory").
  // The UNet too: opened by the first run after its text is encoded, closed before the VAE decode
  // of a large generation only (pipeline/batching.ts largeGeneration).
  const transient = new Set(layout.sdxl && phased ? [...layout.textEncoders.map((t) => t.file), layout.unet.file, layout.controlUnet?.file, layout.vaeEncoder?.file, layout.vaeDecoder.file].filter((f): f is string => f !== undefined) : []);
  const keep = new Set([...layout.textEncoders.map((t) => t.file), layout.unet.file, layout.controlUnet?.file, layout.vaeEncoder?.file, layout.vaeDecoder.file].filter((f) => f !== undefined && !transient.has(f)));
  for (const [file, session] of opened) {
    if (keep.has(file)) continue;
    opened.delete(file);
    await session.release();
  }
  const used = chosen ?? 'cpu';
  // Providers that cannot exist on this platform are not worth a word; the others are.
  const worth = fallbacks.filter((f) => !/only$|^coreml|^dml/.test(f));
  layout.info.notes.push(worth.length > 0 && used === 'cpu' ? `device: cpu (${worth.join('; ')})` : `device: ${used}`);
  if (float16.length > 0) layout.info.notes.push(`precision: float16 on ${used} (${float16.join(', ')}: built for the provider from the float32-compute graphs)`);
  layout.info.notes.push(...precision.map((p) => `precision: ${p}`));
  if (transient.size > 0) {
    layout.info.notes.push(`memory: text encoders and VAE opened for their phase of each run (${(weights / 1e9).toFixed(1)} GB of weights${opts.phaseSessions === undefined ? `, over a quarter of this machine's ${(os.totalmem() / 1e9).toFixed(0)} GB` : ''})`);
  }
  const model = new EngineModel(layout, used, opened, transient);
  try {
    for (const cn of opts.controlnets ?? []) await model.controlnet(cn);
  } catch (error) {
    await model.release();
    throw error;
  }
  return model;
}

/** Graph metadata from a CPU session that is closed again at once (no graph optimization). */
async function readMetadataOnly(file: string, part: string): Promise<GraphIO> {
  const { session } = await openSession(file, part, 'cpu', [], false);
  try {
    return { inputs: session.inputMetadata, outputs: session.outputMetadata };
  } finally {
    await session.release();
  }
}

/** What a model folder is, from its configs and graph metadata; opens no session that outlives the call. */
export async function inspectModel(dir: string): Promise<ModelInfo> {
  return (await readModelLayout(dir, readMetadataOnly)).info;
}

/** A ControlNet folder's inputs and residual outputs, for `atelier models inspect`. */
export async function inspectControlNet(dir: string): Promise<ControlNetLayout> {
  return readControlNetLayout(dir, readMetadataOnly);
}
