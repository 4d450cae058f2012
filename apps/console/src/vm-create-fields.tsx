/**
 * The create form's plain fields as data: each renders the same labelled input, text area or check box, named as the
 * API field a 400 names (so that the form can mark it).
 */
import type { TargetedEvent } from 'preact';
import type { Draft } from './vm-create-body';

/** The draft's text fields (all but the selects' and the check boxes'). */
type TextKey = {
  [K in keyof Draft]: Draft[K] extends string ? (K extends 'network' ? never : K) : never;
}[keyof Draft];
type CheckKey = { [K in keyof Draft]: Draft[K] extends boolean ? K : never }[keyof Draft];

export interface TextSpec {
  key: TextKey;
  label: string;
  /** The input's name: the API's field name. */
  name: string;
  /** Spans the form's width. */
  wide?: boolean;
  required?: boolean;
  placeholder?: string;
  inputMode?: 'numeric';
  /** A password input. */
  secret?: boolean;
  autoComplete?: string;
  /** A text area of this many rows instead of an input. */
  rows?: number;
}

export const IMAGE_AND_SIZE: TextSpec[] = [
  {
    key: 'image',
    label: 'Image',
    name: 'image',
    wide: true,
    required: true,
    placeholder: 'ghcr.io/cirruslabs/macos-sequoia-base:latest',
  },
  { key: 'cpu', label: 'CPUs', name: 'cpu', inputMode: 'numeric', placeholder: 'worker default' },
  { key: 'memory', label: 'Memory (MB)', name: 'memory', inputMode: 'numeric', placeholder: 'worker default' },
  { key: 'diskSize', label: 'Disk size (GB)', name: 'diskSize', inputMode: 'numeric', placeholder: "image's size" },
];

export const SOFTNET: TextSpec[] = [
  { key: 'softnetAllow', label: 'Softnet allow (CIDRs)', name: 'netSoftnetAllow', placeholder: '10.0.0.0/8' },
  { key: 'softnetBlock', label: 'Softnet block (CIDRs)', name: 'netSoftnetBlock', placeholder: '0.0.0.0/0' },
];

export const BRIDGED: TextSpec = {
  key: 'bridged',
  label: 'Bridged interface',
  name: 'net-bridged',
  placeholder: 'en0',
};

export const SSH_LOGIN: TextSpec[] = [
  { key: 'username', label: 'SSH username', name: 'username', autoComplete: 'off', placeholder: 'admin' },
  {
    key: 'password',
    label: 'SSH password',
    name: 'password',
    secret: true,
    autoComplete: 'new-password',
    placeholder: 'admin',
  },
];

export const LISTS_AND_SCRIPT: TextSpec[] = [
  { key: 'labels', label: 'Labels (key=value, comma or line separated)', name: 'labels', rows: 2 },
  { key: 'resources', label: 'Resources (name=amount)', name: 'resources', rows: 2 },
  { key: 'hostDirs', label: 'Host directories (name:path[:ro], one a line)', name: 'hostDirs', rows: 2 },
  { key: 'startupScript', label: 'Startup script', name: 'startup_script', wide: true, rows: 4 },
];

/** The options' check boxes: the draft key is the input's name. */
export const CHECKS: { key: CheckKey; label: string }[] = [
  { key: 'headless', label: 'Headless' },
  { key: 'nested', label: 'Nested virtualization' },
  { key: 'suspendable', label: 'Suspendable' },
  { key: 'randomSerial', label: 'Random serial number' },
  { key: 'audio', label: 'Audio' },
  { key: 'clipboard', label: 'Clipboard sharing' },
];

type TextEvent = TargetedEvent<HTMLInputElement | HTMLTextAreaElement>;

export function TextField({
  spec,
  value,
  onInput,
}: {
  spec: TextSpec;
  value: string;
  onInput: (e: TextEvent) => void;
}) {
  const input = {
    name: spec.name,
    required: spec.required,
    placeholder: spec.placeholder,
    inputMode: spec.inputMode,
    autoComplete: spec.autoComplete,
    value,
    onInput,
  };
  return (
    <label class={spec.wide ? 'field wide' : 'field'}>
      <span>{spec.label}</span>
      {spec.rows ? (
        <textarea name={spec.name} rows={spec.rows} value={value} onInput={onInput} />
      ) : spec.secret ? (
        <input type="password" {...input} />
      ) : (
        <input {...input} />
      )}
    </label>
  );
}

export function CheckField({
  spec,
  checked,
  onChange,
}: {
  spec: { key: CheckKey; label: string };
  checked: boolean;
  onChange: (e: TargetedEvent<HTMLInputElement>) => void;
}) {
  return (
    <label class="check">
      <input type="checkbox" name={spec.key} checked={checked} onChange={onChange} /> {spec.label}
    </label>
  );
}
