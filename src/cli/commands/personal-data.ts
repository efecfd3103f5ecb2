import type { Command } from 'commander';
import type { PersonalDataSubject } from '../../index.js';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';

export function definePersonalData(program: Command): void {
  const command = program
    .command('personal-data')
    .description('declarations of personal data (crypto-shredding): list, declare a type, rotate a subject\'s key; see docs/personal-data.md');

  command
    .command('list')
    .description('the declared types, their personal fields and whose they are')
    .action(
      action(async (context) => {
        const declarations = await withStore(context, (store) => store.personalDataDeclarations());
        context.out.result(declarations, () => {
          if (declarations.length === 0) context.out.line('no personal data declared');
          for (const d of declarations) context.out.line(`${d.type}: ${d.fields.join(', ')} (subject: ${d.subject})`);
        });
        return ExitCode.ok;
      }),
    );

  command
    .command('declare')
    .description('declare the personal fields of an event type and their subject (owner only); later appends store them encrypted')
    .argument('<type>', 'the event type')
    .requiredOption('--field <path>', 'a personal field of the body (dot-separated path); repeatable', (value: string, previous: string[]) => [...previous, value], [] as string[])
    .requiredOption('--subject <subject>', "whose: 'stream', 'body.<path>' or 'metadata.<path>'")
    .action(
      action(async (context, type: string, options: { field: string[]; subject: string }) => {
        const declaration = { type, fields: options.field, subject: options.subject as PersonalDataSubject };
        await withStore(context, (store) => store.declarePersonalData(declaration));
        context.out.result(declaration, () => context.out.line(`declared ${type}: ${options.field.join(', ')} (subject: ${options.subject})`));
        return ExitCode.ok;
      }),
    );

  command
    .command('rotate')
    .description("rotate a data subject's key (owner only): the current key keeps decrypting what it encrypted, the next field gets a new key")
    .argument('<subject>', 'the subject: the text of the declared subject field, or the stream id')
    .action(
      action(async (context, subject: string) => {
        const retired = await withStore(context, (store) => store.rotateSubjectKey(subject));
        context.out.result({ subject, retiredKey: retired }, () => context.out.line(`rotated the key of ${subject}: key ${retired} retired`));
        return ExitCode.ok;
      }),
    );
}
