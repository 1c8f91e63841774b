import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { diffPolicies, formatPolicyDiff } from '../../src/policy/diff.js';
import { loadPolicy, parsePolicy, policyDocumentOf, PolicyError } from '../../src/policy/load.js';

const defaultPolicyFile = fileURLToPath(new URL('../../policies/default.yaml', import.meta.url));

/** The contract's precedence table, written out here. */
const contractTable = {
  'legacy-managed': { rate: 'legacy', availability: 'cloud', room_type: 'legacy', status: 'cloud' },
  'cloud-managed': { rate: 'cloud', availability: 'cloud', room_type: 'cloud', status: 'cloud' },
  default: { rate: 'legacy', availability: 'cloud', room_type: 'cloud', status: 'cloud' },
} as const;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A valid policy document, as plain data to mutate per test. */
function validDocument(): { [key: string]: Json } {
  return {
    name: 'test-policy',
    classification: { from: 'legacy.mgmt_typ', codes: { L: 'legacy-managed', C: 'cloud-managed' }, otherwise: 'default' },
    groups: { rate: ['rate_minor', 'currency'] },
    fallback: 'other-source',
    classes: {
      'legacy-managed': { ...contractTable['legacy-managed'] },
      'cloud-managed': { ...contractTable['cloud-managed'] },
      default: { ...contractTable.default },
    },
  };
}

function child(value: Json | undefined, key: string): { [key: string]: Json } {
  assert.ok(value !== null && value !== undefined && typeof value === 'object' && !Array.isArray(value));
  const inner = value[key];
  assert.ok(inner !== null && inner !== undefined && typeof inner === 'object' && !Array.isArray(inner), key);
  return inner;
}

let dir = '';
let fileCounter = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'room-sync-policy-'));
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function writePolicy(text: string, extension = 'yaml'): Promise<string> {
  fileCounter += 1;
  const file = join(dir, `policy-${fileCounter}.${extension}`);
  await writeFile(file, text, 'utf8');
  return file;
}

async function rejection(promise: Promise<unknown>): Promise<PolicyError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PolicyError, `expected a PolicyError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the policy to be refused');
}

describe('the default policy', () => {
  test('encodes the contract precedence table exactly', async () => {
    const policy = await loadPolicy(defaultPolicyFile);
    assert.deepEqual(Object.keys(policy.classes).sort(), Object.keys(contractTable).sort());
    for (const [className, owners] of Object.entries(contractTable)) {
      const loaded = policy.classes[className];
      assert.ok(loaded, className);
      for (const [field, owner] of Object.entries(owners)) {
        assert.equal(loaded[field as keyof typeof loaded], owner, `${className} × ${field}`);
      }
      assert.deepEqual(loaded, owners, className);
    }
  });

  test('classifies by legacy mgmt_typ: L legacy-managed, C cloud-managed, anything else default', async () => {
    const policy = await loadPolicy(defaultPolicyFile);
    assert.equal(policy.classification.from, 'legacy.mgmt_typ');
    assert.deepEqual(policy.classification.codes, { L: 'legacy-managed', C: 'cloud-managed' });
    assert.equal(policy.classification.otherwise, 'default');
  });

  test('rate is one group, and the owner falls back to the other source', async () => {
    const policy = await loadPolicy(defaultPolicyFile);
    assert.deepEqual(policy.groups.rate, ['rate_minor', 'currency']);
    assert.equal(policy.fallback, 'other-source');
  });

  test('has a version: name@content hash', async () => {
    const policy = await loadPolicy(defaultPolicyFile);
    assert.match(policy.policyVersion, /^business-default@[0-9a-f]{12}$/);
    assert.equal((await loadPolicy(defaultPolicyFile)).policyVersion, policy.policyVersion, 'loading twice gives one version');
  });
});

describe('invalid policies are refused, naming the file and the field', () => {
  test('an owner "latest" is refused', async () => {
    const document = validDocument();
    child(child(document, 'classes'), 'default').rate = 'latest';
    const file = await writePolicy(stringify(document));
    const error = await rejection(loadPolicy(file));
    assert.ok(error.message.includes(file), error.message);
    assert.match(error.message, /classes\.default\.rate/);
  });

  test('a class referenced by the classification but not defined is refused', async () => {
    const document = validDocument();
    child(child(document, 'classification'), 'codes').F = 'franchise';
    const file = await writePolicy(stringify(document));
    const error = await rejection(loadPolicy(file));
    assert.ok(error.message.includes(file), error.message);
    assert.match(error.message, /classification\.codes\.F/);
    assert.match(error.message, /"franchise" is not defined/);
  });

  test('an undefined "otherwise" class is refused', async () => {
    const document = validDocument();
    child(document, 'classification').otherwise = 'unclassified';
    const error = await rejection(loadPolicy(await writePolicy(stringify(document))));
    assert.match(error.message, /classification\.otherwise/);
    assert.match(error.message, /"unclassified"/);
  });

  test('a missing field owner is refused', async () => {
    const document = validDocument();
    delete child(child(document, 'classes'), 'cloud-managed').status;
    const file = await writePolicy(stringify(document));
    const error = await rejection(loadPolicy(file));
    assert.ok(error.message.includes(file), error.message);
    assert.match(error.message, /classes\.cloud-managed\.status/);
  });

  test('an unknown field is refused', async () => {
    const document = validDocument();
    child(child(document, 'classes'), 'default').price = 'legacy';
    const error = await rejection(loadPolicy(await writePolicy(stringify(document))));
    assert.match(error.message, /classes\.default/);
    assert.match(error.message, /price/);
  });

  test('an unknown top-level key is refused', async () => {
    const document = { ...validDocument(), tiebreak: 'latest' };
    const error = await rejection(loadPolicy(await writePolicy(stringify(document))));
    assert.match(error.message, /tiebreak/);
  });

  test('a rate group other than [rate_minor, currency] is refused', async () => {
    const document = validDocument();
    child(document, 'groups').rate = ['rate_minor'];
    const error = await rejection(loadPolicy(await writePolicy(stringify(document))));
    assert.match(error.message, /groups\.rate/);
  });

  test('an unknown fallback is refused', async () => {
    const document = { ...validDocument(), fallback: 'latest' };
    const error = await rejection(loadPolicy(await writePolicy(stringify(document))));
    assert.match(error.message, /fallback/);
  });

  test('a missing name is refused', async () => {
    const document = validDocument();
    delete document.name;
    const error = await rejection(loadPolicy(await writePolicy(stringify(document))));
    assert.match(error.message, /name/);
  });

  test('a class name that is not lower-case words is refused', async () => {
    const document = validDocument();
    const classes = child(document, 'classes');
    classes.Franchise = { ...contractTable.default };
    const error = await rejection(loadPolicy(await writePolicy(stringify(document))));
    assert.match(error.message, /classes\.Franchise/);
  });

  test('several problems are all listed', async () => {
    const document = validDocument();
    child(child(document, 'classes'), 'default').rate = 'latest';
    child(child(document, 'classes'), 'legacy-managed').availability = 'newest';
    const error = await rejection(loadPolicy(await writePolicy(stringify(document))));
    assert.match(error.message, /classes\.default\.rate/);
    assert.match(error.message, /classes\.legacy-managed\.availability/);
  });

  test('a file that is not YAML is refused, naming the file', async () => {
    const file = await writePolicy('name: [unclosed\nclasses: {');
    const error = await rejection(loadPolicy(file));
    assert.ok(error.message.includes(file), error.message);
    assert.match(error.message, /not valid YAML/);
  });

  test('a missing file is refused, naming the file', async () => {
    const file = join(dir, 'does-not-exist.yaml');
    const error = await rejection(loadPolicy(file));
    assert.ok(error.message.includes(file), error.message);
  });

  test('an empty file is refused', async () => {
    const error = await rejection(loadPolicy(await writePolicy('')));
    assert.match(error.message, /top level/);
  });

  test('parsePolicy names the origin it is given', () => {
    assert.throws(
      () => parsePolicy({ ...validDocument(), fallback: 'latest' }, 'inline-origin'),
      (error: unknown) => error instanceof PolicyError && /inline-origin: fallback/.test(error.message),
    );
  });
});

describe('policy version', () => {
  test('a JSON file loads like the YAML one', async () => {
    const document = validDocument();
    const fromJson = await loadPolicy(await writePolicy(JSON.stringify(document), 'json'));
    const fromYaml = await loadPolicy(await writePolicy(stringify(document)));
    assert.equal(fromJson.policyVersion, fromYaml.policyVersion);
    assert.deepEqual(fromJson.classes, fromYaml.classes);
  });

  test('is stable under key reordering, comments and formatting', async () => {
    const ordered = await loadPolicy(await writePolicy(stringify(validDocument())));
    const reordered = await writePolicy(`# the same policy, written differently
classes:
  default: { status: cloud, room_type: cloud, availability: cloud, rate: legacy }
  cloud-managed:
    status: cloud     # all cloud
    rate: cloud
    room_type: cloud
    availability: cloud
  legacy-managed:
    room_type: legacy
    status: cloud
    availability: cloud
    rate: legacy
fallback: other-source
groups:
  rate: [rate_minor, currency]
classification:
  otherwise: default
  codes: { C: cloud-managed, L: legacy-managed }
  from: legacy.mgmt_typ
name: test-policy
`);
    assert.equal((await loadPolicy(reordered)).policyVersion, ordered.policyVersion);
  });

  test('changes when an owner changes', async () => {
    const base = await loadPolicy(await writePolicy(stringify(validDocument())));
    const changed = validDocument();
    child(child(changed, 'classes'), 'default').room_type = 'legacy';
    const other = await loadPolicy(await writePolicy(stringify(changed)));
    assert.notEqual(other.policyVersion, base.policyVersion);
    assert.match(other.policyVersion, /^test-policy@[0-9a-f]{12}$/);
  });

  test('changes when the classification or the fallback changes', async () => {
    const base = parsePolicy(validDocument(), 'base').policyVersion;
    const reclassified = validDocument();
    child(child(reclassified, 'classification'), 'codes').F = 'default';
    assert.notEqual(parsePolicy(reclassified, 'f').policyVersion, base);
    assert.notEqual(parsePolicy({ ...validDocument(), fallback: 'none' }, 'none').policyVersion, base);
  });

  test('an explicit version label is kept in front of the hash', () => {
    const labelled = parsePolicy({ ...validDocument(), version: '2026-11' }, 'labelled');
    assert.match(labelled.policyVersion, /^2026-11@[0-9a-f]{12}$/);
  });
});

describe('policy diff', () => {
  test('names every setting that differs, classes first, field by field', () => {
    const from = parsePolicy(validDocument(), 'from.yaml');
    const changed = validDocument();
    child(child(changed, 'classes'), 'cloud-managed')['rate'] = 'legacy';
    child(child(changed, 'classes'), 'default')['status'] = 'legacy';
    child(changed, 'classification')['otherwise'] = 'cloud-managed';
    child(changed, 'classification')['codes'] = { L: 'legacy-managed', C: 'cloud-managed', F: 'default' };
    changed['fallback'] = 'none';
    const to = parsePolicy(changed, 'to.yaml');
    assert.deepEqual(formatPolicyDiff(diffPolicies(policyDocumentOf(from), policyDocumentOf(to))), [
      'class cloud-managed, rate: owner cloud -> legacy',
      'class default, status: owner cloud -> legacy',
      'classification.codes.F: (none) -> default',
      'classification.otherwise: default -> cloud-managed',
      'fallback: other-source -> none',
    ]);
    assert.deepEqual(diffPolicies(policyDocumentOf(from), policyDocumentOf(from)), []);
  });

  test('a class added or removed lists each of its fields', () => {
    const from = parsePolicy(validDocument(), 'from.yaml');
    const added = validDocument();
    child(added, 'classes')['franchise'] = { rate: 'cloud', availability: 'cloud', room_type: 'legacy', status: 'cloud' };
    const to = parsePolicy(added, 'to.yaml');
    assert.deepEqual(
      diffPolicies(policyDocumentOf(from), policyDocumentOf(to)).map((entry) => [entry.path, entry.from, entry.to]),
      [
        ['classes.franchise.rate', null, 'cloud'],
        ['classes.franchise.availability', null, 'cloud'],
        ['classes.franchise.room_type', null, 'legacy'],
        ['classes.franchise.status', null, 'cloud'],
      ],
    );
  });

  test('the shipped example moves exactly the cloud-managed rate', async () => {
    const example = await loadPolicy(fileURLToPath(new URL('../../policies/examples/cloud-rate-from-legacy.yaml', import.meta.url)));
    const shipped = await loadPolicy(defaultPolicyFile);
    const moved = diffPolicies(policyDocumentOf(shipped), policyDocumentOf(example)).filter((entry) => entry.path.startsWith('classes.') || entry.path.startsWith('classification.') || entry.path === 'fallback');
    assert.deepEqual(moved, [{ path: 'classes.cloud-managed.rate', from: 'cloud', to: 'legacy' }]);
    assert.notEqual(example.policyVersion, shipped.policyVersion);
  });
});
