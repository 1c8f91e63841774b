import { z } from 'zod';
import { fieldNames, sourceNames } from '../domain/room.js';

const className = z.string().regex(/^[a-z][a-z0-9-]*$/, 'class names are lower-case words joined by "-"');

/** An owner is a source. Nothing else is accepted, so no policy can say "latest wins". */
const owner = z.enum(sourceNames);

const fieldOwners = z.strictObject(
  Object.fromEntries(fieldNames.map((field) => [field, owner])) as Record<(typeof fieldNames)[number], typeof owner>,
);

export const policySchema = z
  .strictObject({
    name: z.string().min(1),
    description: z.string().optional(),
    /** An explicit version label; the content hash is always appended to it. */
    version: z.string().min(1).optional(),
    classification: z.strictObject({
      from: z.literal('legacy.mgmt_typ'),
      codes: z.record(z.string().min(1), className),
      otherwise: className,
    }),
    groups: z.strictObject({
      // The unified columns are fixed by the contract: rate is exactly this pair.
      rate: z.tuple([z.literal('rate_minor'), z.literal('currency')]),
    }),
    fallback: z.enum(['other-source', 'none']),
    classes: z.record(className, fieldOwners),
  })
  .superRefine((policy, context) => {
    const known = new Set(Object.keys(policy.classes));
    const referenced = [
      ...Object.entries(policy.classification.codes).map(([code, name]) => ({ path: ['classification', 'codes', code], name })),
      { path: ['classification', 'otherwise'], name: policy.classification.otherwise },
    ];
    for (const { path, name } of referenced) {
      if (!known.has(name)) {
        context.addIssue({ code: 'custom', path, message: `class "${name}" is not defined under classes` });
      }
    }
  });

export type PolicyDocument = z.infer<typeof policySchema>;

/** A loaded policy: the document plus the version written on every unified and audit row. */
export interface Policy extends PolicyDocument {
  readonly policyVersion: string;
}
