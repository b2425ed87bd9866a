/** Search attributes ops use to find a session's monitors in the Web UI: SessionId="SPN01_CMH_0001_01_01". */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SessionIdAttribute = defineSearchAttributeKey('SessionId', SearchAttributeType.KEYWORD);
export const StudyIdAttribute = defineSearchAttributeKey('StudyId', SearchAttributeType.KEYWORD);
export const SiteIdAttribute = defineSearchAttributeKey('SiteId', SearchAttributeType.KEYWORD);

export const searchAttributes = [SessionIdAttribute, StudyIdAttribute, SiteIdAttribute];
