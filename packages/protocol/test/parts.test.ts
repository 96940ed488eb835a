import { describe, expect, it } from 'vitest';
import { contentSchema, contentText, writtenText, formValuesProblem, isPartsContent, partsContentSchema, type FormField } from '../src/index.js';

const image = { type: 'image', attachmentId: 'att-1', name: 'screen.png', contentType: 'image/png', size: 2048, width: 640, height: 480 };

describe('rich message parts', () => {
  it('accepts text, file, image, quick replies, forms and the answers to them, and keeps text content as it was', () => {
    const content = {
      type: 'parts',
      parts: [
        { type: 'text', text: 'Here is my screenshot' },
        image,
        { type: 'file', attachmentId: 'att-2', name: 'invoice.pdf', contentType: 'application/pdf', size: 100 },
        { type: 'quick_replies', options: [{ id: 'yes', label: 'Yes' }, { id: 'no', label: 'No' }] },
        { type: 'form', formId: 'address', fields: [{ name: 'city', label: 'City', kind: 'text', required: true }, { name: 'speed', label: 'Speed', kind: 'select', options: ['standard', 'express'] }] },
        { type: 'choice', replyTo: 4, optionId: 'yes', label: 'Yes' },
        { type: 'form_response', replyTo: 4, formId: 'address', values: { city: 'Lyon' } },
      ],
    };
    const parsed = contentSchema.parse(content);
    expect(parsed).toEqual(content);
    expect(isPartsContent(parsed)).toBe(true);
    expect(contentSchema.parse({ type: 'text', text: 'hi' })).toEqual({ type: 'text', text: 'hi' });
    expect(contentSchema.parse({ type: 'order.card', data: { id: 5 } })).toEqual({ type: 'order.card', data: { id: 5 } });
  });

  it('refuses malformed parts with a message that says what is wrong', () => {
    const refused = [
      { type: 'parts', parts: [] },
      { type: 'parts', data: {} },
      { type: 'parts', parts: [{ type: 'video', url: 'x' }] },
      { type: 'parts', parts: [{ type: 'quick_replies', options: [{ id: 'a', label: 'A' }, { id: 'a', label: 'B' }] }] },
      { type: 'parts', parts: [{ type: 'form', formId: 'f', fields: [{ name: 'x', label: 'X', kind: 'select' }] }] },
      { type: 'parts', parts: [{ type: 'image', attachmentId: 'a', name: 'n', contentType: 'image/png', size: -1 }] },
    ];
    for (const content of refused) expect(contentSchema.safeParse(content).success, JSON.stringify(content)).toBe(false);
    const duplicate = partsContentSchema.safeParse(refused[3]);
    expect(duplicate.success || duplicate.error.issues[0]!.message).toBe('option ids must be unique');
  });

  it('checks a form submission against its fields', () => {
    const fields: FormField[] = [
      { name: 'email', label: 'Email', kind: 'email', required: true },
      { name: 'count', label: 'Count', kind: 'number' },
      { name: 'speed', label: 'Speed', kind: 'select', options: ['standard', 'express'] },
      { name: 'gift', label: 'Gift', kind: 'checkbox' },
    ];
    expect(formValuesProblem(fields, { email: 'a@b.co', count: 2, speed: 'express', gift: true })).toBeNull();
    expect(formValuesProblem(fields, { count: 2 })).toBe('"email" is required');
    expect(formValuesProblem(fields, { email: 'nope' })).toBe('"email" must be an email address');
    expect(formValuesProblem(fields, { email: 'a@b.co', speed: 'slow' })).toBe('"speed" must be one of "standard", "express"');
    expect(formValuesProblem(fields, { email: 'a@b.co', colour: 'red' })).toBe('the form has no field "colour"');
  });

  it('reads parts as plain text for readers that take only text', () => {
    expect(contentText({ type: 'parts', parts: [{ type: 'text', text: 'Look' }, image as never, { type: 'choice', replyTo: 3, optionId: 'yes', label: 'Yes' }] })).toBe(
      'Look\n[image "screen.png": image/png, 2048 bytes, 640x480 pixels]\n[chose "Yes"]',
    );
  });

  it('reads what the sender wrote: the text parts only', () => {
    expect(writtenText({ type: 'parts', parts: [{ type: 'text', text: 'I want' }, image as never, { type: 'text', text: 'a human' }] })).toBe('I want\na human');
    expect(writtenText({ type: 'text', text: 'hi' })).toBe('hi');
    expect(writtenText({ type: 'order.card', data: {} })).toBe('');
  });
});
