/**
 * Intake workflow ids (issue 22 item 6): ordinary names as REDCap sends them (the contract's form), and `%`, `:` and `#`
 * of the record and event percent-encoded, so that no two triggers share an id.
 */
import fc from 'fast-check';
import { legacyRedcapIntakeWorkflowId } from '../../src/temporal/intakes';
import { redcapIntakeWorkflowId } from '../../surface';

test('ordinary names are as sent', () => {
  expect(redcapIntakeWorkflowId(3, '331-2', null, 2)).toBe('redcap-intake:3:331-2#2');
  expect(redcapIntakeWorkflowId(2, 'CMH0042', 'month_6_arm_1')).toBe('redcap-intake:2:CMH0042:month_6_arm_1');
  expect(redcapIntakeWorkflowId(1, 'Zoë 7')).toBe('redcap-intake:1:Zoë 7');
});

test('the pairs that shared an id before 0.3.0 no longer do', () => {
  expect(legacyRedcapIntakeWorkflowId({ configId: 1, record: 'A#2' })).toBe(
    legacyRedcapIntakeWorkflowId({ configId: 1, record: 'A', instance: 2 }),
  );
  expect(redcapIntakeWorkflowId(1, 'A#2')).toBe('redcap-intake:1:A%232');
  expect(redcapIntakeWorkflowId(1, 'A', null, 2)).toBe('redcap-intake:1:A#2');
  expect(redcapIntakeWorkflowId(1, 'A:b')).toBe('redcap-intake:1:A%3Ab');
  expect(redcapIntakeWorkflowId(1, 'A', 'b')).toBe('redcap-intake:1:A:b');
  expect(redcapIntakeWorkflowId(1, 'A%3Ab')).toBe('redcap-intake:1:A%253Ab');
});

test('no two triggers share an id', () => {
  const part = fc.stringMatching(/^[A-Za-z0-9:#% _-]{1,8}$/);
  const trigger = fc.record({
    record: part,
    event: fc.option(part, { nil: null }),
    instance: fc.option(fc.integer({ min: 1, max: 20 }), { nil: null }),
  });
  fc.assert(
    fc.property(trigger, trigger, (a, b) => {
      const same = a.record === b.record && a.event === b.event && a.instance === b.instance;
      const ids = [a, b].map((t) => redcapIntakeWorkflowId(1, t.record, t.event, t.instance));
      return same === (ids[0] === ids[1]);
    }),
    { numRuns: 2_000 },
  );
});
